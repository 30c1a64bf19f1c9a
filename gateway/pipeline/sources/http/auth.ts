// Who may post to an http source, and on which topics.
//
// - Bearer tokens are held as their SHA-256 only (read from tokenFile at start, or given hashed in
//   the config), compared in constant time: a token is a random string, so one hash round is enough.
// - Basic users carry scrypt hashes (`gatehouse passwd`, broker/password.ts) checked on libuv's
//   thread pool, which the store shares: checks are bounded by the broker's AuthGuard (two at once,
//   32 waiting, then 503), and an unknown user costs the same check (DUMMY_HASH). A Telegraf posting
//   every 10 s would pay a 50 ms scrypt on a Pi per request: a verified Authorization header is
//   remembered (by its SHA-256) for VERIFIED_TTL_MS, at most MAX_VERIFIED of them.
// - Failures are bounded per address as the broker bounds CONNECTs (AuthGuard): after maxFailures
//   in a minute the address is banned (429) for 60 s, doubling up to an hour.
// - No credentials configured (loopback only, options.ts): every request is anonymous, any topic.
import { createHash, timingSafeEqual } from 'node:crypto';
import { matchTopic } from '../../../../core/topic-filter.js';
import { AuthGuard } from '../../../broker/auth-guard.js';
import { DUMMY_HASH, verifyPassword } from '../../../broker/password.js';
import type { HttpSourceOptions } from './options.js';
import { readTokenFile } from './token-file.js';

const VERIFIED_TTL_MS = 5 * 60_000;
const MAX_VERIFIED = 256;

export interface Credential {
  /** principal() in a rule; undefined: anonymous. */
  name: string | undefined;
  /** The topic filters it may post to, split in levels. */
  filters: string[][];
}

export type AuthOutcome =
  | { ok: true; credential: Credential }
  | {
      ok: false;
      status: 401 | 429 | 503;
      reason: string;
      outcome: 'unauthorized' | 'banned' | 'busy';
      newlyBanned?: true;
      /** A 429's Retry-After: what is left of the ban (bans double up to an hour; a fixed 60 s had a device come back early). */
      retryAfterSeconds?: number;
    };

const sha256 = (b: string | Buffer): Buffer => createHash('sha256').update(b).digest();

interface Token {
  credential: Credential;
  hash: Buffer;
}

export class HttpAuth {
  private readonly anonymous: Credential | undefined;
  private readonly users = new Map<string, { hash: string; credential: Credential }>();
  private readonly verified = new Map<string, { credential: Credential; until: number }>();
  private readonly guard: AuthGuard;

  private constructor(
    private readonly tokens: readonly Token[],
    options: HttpSourceOptions,
    private readonly monotonic: () => number,
  ) {
    const { auth } = options;
    if (auth.tokens.length === 0 && auth.users.length === 0) this.anonymous = { name: undefined, filters: [['#']] };
    for (const u of auth.users) this.users.set(u.username, { hash: u.password, credential: credentialOf(u.username, u.topics) });
    this.guard = new AuthGuard(
      { maxFailures: auth.maxFailures, windowMs: 60_000, banMs: 60_000, maxBanMs: 3_600_000, maxConcurrentChecks: 2, maxQueuedChecks: 32 },
      monotonic,
    );
  }

  /** Read the token files (the first line of each) and hold only their hashes. */
  static create(options: HttpSourceOptions, monotonic: () => number): HttpAuth {
    const tokens: Token[] = [];
    for (const [i, t] of options.auth.tokens.entries()) {
      let hash: Buffer;
      if (t.sha256 !== undefined) hash = Buffer.from(t.sha256, 'hex');
      else hash = sha256(readTokenFile(t.tokenFile as string, `sources.${options.name}.auth.tokens.${i}.tokenFile`));
      tokens.push({ hash, credential: credentialOf(t.name, t.topics) });
    }
    return new HttpAuth(tokens, options, monotonic);
  }

  /** What the status shows: the kinds of credentials held. */
  describe(): string {
    if (this.anonymous) return 'none (loopback)';
    const kinds = [];
    if (this.tokens.length > 0) kinds.push(`${this.tokens.length} token(s)`);
    if (this.users.size > 0) kinds.push(`${this.users.size} user(s)`);
    return kinds.join(', ');
  }

  /** Addresses banned now (status). */
  bannedCount(): number {
    return this.guard.bannedCount();
  }

  async check(header: string | undefined, address: string | undefined): Promise<AuthOutcome> {
    if (this.anonymous) return { ok: true, credential: this.anonymous };
    if (this.guard.banned(address, undefined))
      return {
        ok: false,
        status: 429,
        outcome: 'banned',
        reason: `too many failed authentications from ${address ?? 'this address'}: try again later`,
        retryAfterSeconds: Math.max(1, Math.ceil(this.guard.banLeftMs(address ?? '') / 1000)),
      };
    const found = await this.find(header ?? '');
    if (found === 'busy') return { ok: false, status: 503, outcome: 'busy', reason: 'too many password checks waiting: try again later' };
    if (found) {
      this.guard.succeeded(address, undefined);
      return { ok: true, credential: found };
    }
    const banned = this.guard.failed(address, undefined).length > 0;
    return {
      ok: false,
      status: 401,
      outcome: 'unauthorized',
      reason: header ? 'the credentials are not valid' : 'credentials required: Authorization: Bearer <token> or Basic',
      ...(banned ? { newlyBanned: true as const } : {}),
    };
  }

  private async find(header: string): Promise<Credential | undefined | 'busy'> {
    // RFC 7235: the scheme is case-insensitive.
    const bearer = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (bearer) {
      const given = sha256(bearer[1] as string);
      let hit: Credential | undefined;
      for (const t of this.tokens) if (timingSafeEqual(given, t.hash)) hit = t.credential; // every one compared: no timing by position
      return hit;
    }
    const basic = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
    if (!basic || this.users.size === 0) return undefined;
    const key = sha256(header).toString('base64');
    const now = this.monotonic();
    const known = this.verified.get(key);
    if (known && known.until > now) return known.credential;
    const text = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return undefined;
    const user = this.users.get(text.slice(0, colon));
    const release = await this.guard.acquire();
    if (!release) return 'busy';
    let good: boolean;
    try {
      good = await verifyPassword(text.slice(colon + 1), user?.hash ?? DUMMY_HASH);
    } finally {
      release();
    }
    if (!good || !user) return undefined;
    if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(key, { credential: user.credential, until: now + VERIFIED_TTL_MS });
    return user.credential;
  }
}

function credentialOf(name: string, topics: readonly string[]): Credential {
  return { name, filters: topics.map((f) => f.split('/')) };
}

/** May the credential post to this topic? */
export function topicAllowed(credential: Credential, topic: string): boolean {
  return credential.filters.some((levels) => matchTopic(levels, topic));
}
