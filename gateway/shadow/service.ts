// The local Device Shadow service: every shadow's document in memory (bounded by maxShadows and
// 4 x maxStateBytes each), each change written to the store's meta area (key
// `shadow/<thing>/<name>`, '' for the classic shadow) in the group commit before it is answered:
// an `accepted` (and the device's PUBACK, index.ts) means the document is on disk. Requests of
// one shadow run one after another; in all at most maxInFlight at once. Loaded on first use
// (index.ts): a gateway whose devices use no shadow never loads it.
import type { MetaValue } from '../../core/message.js';
import type { RateLog } from '../../core/rate-log.js';
import { errorMessage } from '../../core/errors.js';
import {
  ShadowRejection,
  VERSION_KEPT_S,
  acceptedAnswer,
  applyUpdate,
  deltaAnswer,
  documentAnswer,
  documentsAnswer,
  isTombstone,
  notFound,
  parseRequest,
  rejectedAnswer,
  stateBytes,
  TOO_LARGE,
  type ShadowDoc,
  type Stored,
} from './document.js';
import type { ShadowOptions } from './options.js';
import { nameProblem, shadowTopicPrefix, type ShadowOp } from './topics.js';

/** Meta keys of the shadows: `shadow/<thing>/<name>` ('' for the classic shadow). */
export const SHADOW_KEY_PREFIX = 'shadow/';
const keyOf = (thing: string, name: string | undefined): string => `${SHADOW_KEY_PREFIX}${thing}/${name ?? ''}`;

export interface ShadowStore {
  commitMeta(key: string, value: MetaValue): Promise<void>;
  metaKeys?(prefix: string): Promise<string[]>;
  getMeta(key: string): Promise<Buffer | undefined>;
}

export interface ShadowCounters {
  /** A request answered: operation update/get/delete, outcome accepted/rejected. */
  answered(op: ShadowOp, outcome: 'accepted' | 'rejected'): void;
  /** A rejection by its code (400, 404, 409, 413, 429, 500...). */
  rejected(code: number): void;
}

export interface ShadowServiceDeps {
  store: ShadowStore;
  /** Publish an answer to the broker's subscribers (and the rules); resolves once the broker took it. */
  publish(topic: string, payload: Buffer): Promise<void>;
  counters: ShadowCounters;
  rateLog: RateLog;
  options: ShadowOptions;
  /** Wall clock, epoch ms (answers carry epoch seconds, as AWS's). */
  now: () => number;
}

/** How a request came: MQTT answers every outcome on its topics; the admin API's rejections are its HTTP answer only (as AWS's REST API). */
export type Via = 'mqtt' | 'admin';

export type Outcome = { ok: true; answer: object } | { ok: false; rejection: ShadowRejection };

export interface ShadowSummary {
  thing: string;
  /** Absent for the classic shadow. */
  name?: string;
  version: number;
  /** Epoch seconds of its last update. */
  timestamp: number;
  stateBytes: number;
}

export class ShadowService {
  private readonly docs = new Map<string, Stored>();
  /** Deleted shadows' keys in the order deleted (their version kept 48 hours, at most maxShadows of them). */
  private readonly tombstones = new Set<string>();
  private live = 0;
  private inFlight = 0;
  private readonly chains = new Map<string, Promise<unknown>>();

  private constructor(private readonly deps: ShadowServiceDeps) {}

  /** Read every stored shadow; tombstones older than 48 hours are removed. */
  static async load(deps: ShadowServiceDeps): Promise<ShadowService> {
    const s = new ShadowService(deps);
    const nowS = Math.floor(deps.now() / 1000);
    const expired: string[] = [];
    for (const key of (await deps.store.metaKeys?.(SHADOW_KEY_PREFIX)) ?? []) {
      const bytes = await deps.store.getMeta(key);
      let doc: Stored | undefined;
      try {
        doc = bytes ? (JSON.parse(bytes.toString('utf8')) as Stored) : undefined;
      } catch (err) {
        deps.rateLog('shadow-unreadable', { key, err: errorMessage(err) }, 'a stored shadow document is not JSON: skipped (an update writes it anew)');
      }
      if (!doc || typeof doc.version !== 'number') continue;
      if (isTombstone(doc)) {
        if (nowS - doc.timestamp > VERSION_KEPT_S) expired.push(key);
        else s.tombstones.add(key);
      } else s.live++;
      if (!expired.includes(key)) s.docs.set(key, doc);
    }
    for (const key of expired) await deps.store.commitMeta(key, () => [['', null]]);
    return s;
  }

  get count(): number {
    return this.live;
  }

  /** The document as get/accepted shows it, or undefined (get_thing_shadow, the admin API). */
  lookup(thing: string, name: string | undefined): object | undefined {
    const doc = this.docs.get(keyOf(thing, name));
    return doc === undefined || isTombstone(doc) ? undefined : documentAnswer(doc, Math.floor(this.deps.now() / 1000));
  }

  list(): ShadowSummary[] {
    const out: ShadowSummary[] = [];
    for (const [key, doc] of this.docs) {
      if (isTombstone(doc)) continue;
      const rest = key.slice(SHADOW_KEY_PREFIX.length);
      const slash = rest.indexOf('/');
      const name = rest.slice(slash + 1);
      out.push({ thing: rest.slice(0, slash), ...(name ? { name } : {}), version: doc.version, timestamp: doc.timestamp, stateBytes: stateBytes(doc) });
    }
    return out.sort((a, b) => (a.thing === b.thing ? ((a.name ?? '') < (b.name ?? '') ? -1 : 1) : a.thing < b.thing ? -1 : 1));
  }

  /** Waits for every request in flight (the gateway's stop, before the store closes). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
  }

  /**
   * Handle one request. MQTT: every answer published on the shadow's topics, rejections too; the
   * promise rejects only when the store could not write (the device's PUBACK is then not sent).
   */
  async request(op: ShadowOp, thing: string, name: string | undefined, payload: Buffer, via: Via): Promise<Outcome> {
    const nowS = Math.floor(this.deps.now() / 1000);
    const prefix = shadowTopicPrefix(thing, name);
    const { options } = this.deps;
    let token: string | undefined;
    try {
      const bad = nameProblem(thing, name);
      if (bad) throw new ShadowRejection(400, bad);
      const req = parseRequest(payload, op, options.maxStateBytes * 8);
      token = req.clientToken;
      if (this.inFlight >= options.maxInFlight) {
        this.deps.rateLog('shadow-in-flight', { maxInFlight: options.maxInFlight, thing }, 'shadow request over shadows.maxInFlight: rejected (429)');
        throw new ShadowRejection(429, 'Too Many Requests');
      }
      this.inFlight++;
      const key = keyOf(thing, name);
      const run = (this.chains.get(key) ?? Promise.resolve()).then(() => this.run(op, key, thing, name, req, nowS, prefix, via));
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      this.chains.set(key, settled);
      try {
        return await run;
      } finally {
        this.inFlight--;
        if (this.chains.get(key) === settled) this.chains.delete(key);
      }
    } catch (err) {
      if (!(err instanceof ShadowRejection)) throw err;
      const r = err;
      if (r.code === 413)
        this.deps.rateLog(
          'shadow-too-large',
          { thing, name, maxStateBytes: options.maxStateBytes },
          'shadow update over shadows.maxStateBytes: rejected (413)',
        );
      this.deps.counters.answered(op, 'rejected');
      this.deps.counters.rejected(r.code);
      if (via === 'mqtt') await this.answer(`${prefix}/${op}/rejected`, rejectedAnswer(r, nowS, token ?? r.clientToken));
      return { ok: false, rejection: r };
    }
  }

  private async run(
    op: ShadowOp,
    key: string,
    thing: string,
    name: string | undefined,
    req: ReturnType<typeof parseRequest>,
    nowS: number,
    prefix: string,
    via: Via,
  ): Promise<Outcome> {
    const prev = this.docs.get(key);
    const current = isTombstone(prev) ? undefined : prev;
    if (op === 'get') {
      if (!current) throw notFound(thing, name);
      const answer = documentAnswer(current, nowS, req.clientToken);
      if (via === 'mqtt') await this.answer(`${prefix}/get/accepted`, answer);
      this.deps.counters.answered(op, 'accepted');
      return { ok: true, answer };
    }
    if (op === 'delete') {
      if (!current) throw notFound(thing, name);
      const tomb = { deleted: true as const, version: current.version, timestamp: nowS };
      await this.write(key, Buffer.from(JSON.stringify(tomb)), prefix, op, nowS, req.clientToken, via);
      this.docs.set(key, tomb);
      this.live--;
      this.tombstones.add(key);
      await this.boundTombstones();
      const answer = { version: current.version, timestamp: nowS, ...(req.clientToken === undefined ? {} : { clientToken: req.clientToken }) };
      await this.answer(`${prefix}/delete/accepted`, answer);
      this.deps.counters.answered(op, 'accepted');
      return { ok: true, answer };
    }
    const { maxShadows, maxStateBytes } = this.deps.options;
    if (!current && this.live >= maxShadows) {
      this.deps.rateLog('shadow-limit', { maxShadows, thing, name }, 'an update would create a shadow over shadows.maxShadows: rejected (429)');
      throw new ShadowRejection(429, `Too many shadows: the gateway keeps at most ${maxShadows} (shadows.maxShadows)`);
    }
    const doc = applyUpdate(prev, req, nowS, maxStateBytes);
    const bytes = Buffer.from(JSON.stringify(doc));
    // the metadata (a timestamp per leaf) is not in AWS's size, but it is held here too
    if (bytes.length > 4 * maxStateBytes) throw new ShadowRejection(413, TOO_LARGE);
    await this.write(key, bytes, prefix, op, nowS, req.clientToken, via);
    this.docs.set(key, doc);
    if (!current) {
      this.live++;
      this.tombstones.delete(key);
    }
    const answer = acceptedAnswer(req, doc, nowS);
    await this.answer(`${prefix}/update/accepted`, answer);
    const d = req.state?.desired ? deltaAnswer(doc, nowS, req.clientToken) : undefined;
    if (d) await this.answer(`${prefix}/update/delta`, d);
    await this.answer(`${prefix}/update/documents`, documentsAnswer(current as ShadowDoc | undefined, doc, nowS, req.clientToken));
    this.deps.counters.answered(op, 'accepted');
    return { ok: true, answer };
  }

  /** The document on disk, or a 500 answered and the store's error thrown (no acknowledgement). */
  private async write(key: string, value: MetaValue, prefix: string, op: ShadowOp, nowS: number, token: string | undefined, via: Via): Promise<void> {
    try {
      await this.deps.store.commitMeta(key, value);
    } catch (err) {
      this.deps.counters.answered(op, 'rejected');
      this.deps.counters.rejected(500);
      this.deps.rateLog('shadow-write', { key, err: errorMessage(err) }, 'a shadow document could not be written: rejected (500), not acknowledged');
      if (via === 'mqtt') await this.answer(`${prefix}/${op}/rejected`, rejectedAnswer(new ShadowRejection(500, 'Internal service failure'), nowS, token));
      throw err;
    }
  }

  /** Deleted shadows past maxShadows: the oldest forgotten (a new one of its name starts at version 1, as AWS after 48 hours). */
  private async boundTombstones(): Promise<void> {
    while (this.tombstones.size > this.deps.options.maxShadows) {
      const oldest = this.tombstones.values().next().value as string;
      this.tombstones.delete(oldest);
      this.docs.delete(oldest);
      await this.deps.store.commitMeta(oldest, () => [['', null]]).catch(() => undefined);
    }
  }

  private async answer(topic: string, body: object): Promise<void> {
    try {
      await this.deps.publish(topic, Buffer.from(JSON.stringify(body)));
    } catch (err) {
      this.deps.rateLog('shadow-publish', { topic, err: errorMessage(err) }, 'a shadow answer could not be published');
    }
  }
}
