// Failed-authentication backoff: per client address and per user name, and a cap on concurrent
// password checks.
//
// - After `maxFailures` failed CONNECTs within `windowMs`, the address (or user name) is banned
//   for `banMs`, doubling with each further ban up to `maxBanMs`. A banned CONNECT gets CONNACK
//   0x05 (not authorized) at once, without a password check.
// - A user-name ban does not apply to addresses that authenticated as that user before (the
//   device's usual address), so an attacker guessing a device's password does not lock it out.
// - Password checks (scrypt) run on libuv's thread pool, which the store (LevelDB) and file I/O
//   share: 32 parallel wrong passwords stalled PUBACKs for 1.4 s. At most `maxConcurrentChecks`
//   run at once; `maxQueuedChecks` more wait; beyond that CONNACK 0x03 (server unavailable).
// Memory is bounded: at most MAX_TRACKED addresses/user names are remembered (oldest forgotten).
// Time is the monotonic clock (RuntimeDeps.monotonic): on a wall clock stepped back a year by NTP a
// ban would last a year (the device locked out), stepped forward it would end at once. Bans live in
// memory only, so nothing here needs to survive a restart.
import { createHash } from 'node:crypto';

export interface AuthGuardOptions {
  maxFailures: number;
  windowMs: number;
  banMs: number;
  maxBanMs: number;
  maxConcurrentChecks: number;
  maxQueuedChecks: number;
}

interface Record {
  failures: number;
  windowStart: number;
  bannedUntil: number;
  /** Bans so far (the ban time doubles with each). */
  bans: number;
}

const MAX_TRACKED = 10_000;
/** User names longer than this are remembered by their hash: MAX_TRACKED made-up names of 64 KB were 640 MB. */
const MAX_KEPT_USER_NAME = 128;
const MAX_GOOD_ADDRESSES_PER_USER = 8;

export type BanScope = 'address' | 'user';

/** The key of a user name's record: the name, or its SHA-256 when it is long (any CONNECT may send 64 KB). */
function userKey(user: string): string {
  return user.length <= MAX_KEPT_USER_NAME ? `u:${user}` : `h:${createHash('sha256').update(user).digest('base64')}`;
}

export class AuthGuard {
  private readonly records = new Map<string, Record>();
  private readonly goodAddresses = new Map<string, Set<string>>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly opts: AuthGuardOptions,
    /** Monotonic ms (RuntimeDeps.monotonic), never the wall clock. */
    private readonly now: () => number,
  ) {}

  /** The scope of a ban in force for this attempt, or undefined. */
  banned(address: string | undefined, user: string | undefined): BanScope | undefined {
    const t = this.now();
    if (address !== undefined && (this.records.get(`a:${address}`)?.bannedUntil ?? 0) > t) return 'address';
    if (user !== undefined && (this.records.get(userKey(user))?.bannedUntil ?? 0) > t) {
      if (address === undefined || !this.goodAddresses.get(user)?.has(address)) return 'user';
    }
    return undefined;
  }

  /** Milliseconds left of this address's ban (0: none): an HTTP 429's Retry-After. */
  banLeftMs(address: string): number {
    return Math.max(0, (this.records.get(`a:${address}`)?.bannedUntil ?? 0) - this.now());
  }

  /** Record a failure; returns the scopes newly banned by it (for the log and counters). */
  failed(address: string | undefined, user: string | undefined): BanScope[] {
    const out: BanScope[] = [];
    if (address !== undefined && this.bump(`a:${address}`)) out.push('address');
    if (user !== undefined && this.bump(userKey(user))) out.push('user');
    return out;
  }

  succeeded(address: string | undefined, user: string | undefined): void {
    if (address !== undefined) this.records.delete(`a:${address}`);
    if (user === undefined || address === undefined) return;
    let good = this.goodAddresses.get(user);
    if (!good) {
      if (this.goodAddresses.size >= MAX_TRACKED) this.goodAddresses.delete(this.goodAddresses.keys().next().value!);
      good = new Set();
      this.goodAddresses.set(user, good);
    }
    if (!good.has(address)) {
      if (good.size >= MAX_GOOD_ADDRESSES_PER_USER) good.delete(good.values().next().value!);
      good.add(address);
    }
  }

  /**
   * Wait for a password-check slot. Resolves with a release function, or undefined when too
   * many checks are already waiting (refuse the CONNECT as server unavailable).
   */
  acquire(): Promise<(() => void) | undefined> {
    const release = (): void => {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
    if (this.running < this.opts.maxConcurrentChecks) {
      this.running++;
      return Promise.resolve(release);
    }
    if (this.waiting.length >= this.opts.maxQueuedChecks) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(() => resolve(release)));
  }

  /** Addresses and user names currently banned (for tests and the status page). */
  bannedCount(): number {
    const t = this.now();
    let n = 0;
    for (const r of this.records.values()) if (r.bannedUntil > t) n++;
    return n;
  }

  private bump(key: string): boolean {
    const t = this.now();
    let r = this.records.get(key);
    if (!r) {
      if (this.records.size >= MAX_TRACKED) this.records.delete(this.records.keys().next().value!);
      r = { failures: 0, windowStart: t, bannedUntil: 0, bans: 0 };
      this.records.set(key, r);
    }
    if (t - r.windowStart > this.opts.windowMs) {
      r.failures = 0;
      r.windowStart = t;
    }
    r.failures++;
    if (r.failures < this.opts.maxFailures || r.bannedUntil > t) return false;
    r.bans++;
    r.bannedUntil = t + Math.min(this.opts.maxBanMs, this.opts.banMs * 2 ** (r.bans - 1));
    r.failures = 0;
    r.windowStart = t;
    return true;
  }
}
