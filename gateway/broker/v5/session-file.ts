// The MQTT 5 sessions with a Session Expiry Interval in `mqtt5-sessions.json` and its journal
// (state-journal.ts). The store marks a session when it changes; each write appends, for every
// marked session, only what differs from what the files already hold:
//   {"s":id,"e":expiryInterval,"d":disconnectedAt|null}   the session (created, expiry, connected)
//   {"s":id,"gone":true}                                  the session ended (expired, clean start)
//   {"s":id,"sub":{filter,topicFilter,share,qos,...}}     a subscription added or changed
//   {"s":id,"unsub":filter}                               a subscription removed
//   {"s":id,"m":n,"msg":{topic,payload,...}}              a queued QoS 1/2 message (n: its number)
//   {"s":id,"acked":[n,...]}                              queued messages gone (delivered, expired)
// so one offline session with 550 queued messages of 2 KiB costs one message's line per message,
// not a 1.5 MB rewrite. A snapshot holds the same lines for every session.
// At load, a subscription an older version accepted but the broker now refuses at SUBSCRIBE (one
// reaching AWS IoT Basic Ingest topics, acl.ts reservedSubscription) is dropped with a warning.
import type { Logger } from 'pino';
import { monotonicOf, wallOf, type Clocks } from '../../../core/clock.js';
import { validFilter } from '../../../core/topic-filter.js';
import { reservedSubscription } from '../acl.js';
import { decodeProps, encodeProps } from '../props-json.js';
import { StateJournal, type JournalStats, type StateRecord } from '../state-journal.js';
import { NEVER_EXPIRES, Session, type OutMsg, type PublishProperties, type SessionPersistence, type SubEntry } from './session.js';

/** A queued message in the file: `expiresAt` there is wall time (epoch ms), not monotonic. */
type StoredMsg = Omit<OutMsg, 'payload' | 'properties'> & { payload: string; properties?: unknown };
type StoredSub = Omit<SubEntry, 'levels'>;

/** The whole-file JSON of earlier versions. */
interface LegacySession {
  clientId: string;
  expiryInterval: number;
  disconnectedAt: number | null;
  subs: StoredSub[];
  queue: StoredMsg[];
}

/** What the files hold of one session (what replaying them gives). */
interface Held {
  session: Session;
  meta: string;
  subs: Map<string, SubEntry>;
  msgs: Set<number>;
}

/** A session as read back from the files, before it becomes a Session. */
interface Loaded {
  e: number;
  d: number | null;
  subs: Map<string, StoredSub>;
  msgs: Map<number, StoredMsg>;
}

export interface SessionFileOptions {
  log: Logger;
  clocks: Clocks;
  stats?: JournalStats;
  flushDelayMs?: number;
}

export class SessionFile implements SessionPersistence {
  readonly journal: StateJournal;
  private readonly marked = new Set<string>();
  private readonly held = new Map<string, Held>();
  /** A queued message's number in the files (the same object moves from the queue to inflight). */
  private readonly numbers = new WeakMap<OutMsg, number>();
  private nextNumber = 1;
  private loaded = false;

  constructor(
    private readonly file: string,
    private readonly sessions: Map<string, Session>,
    private readonly opts: SessionFileOptions,
  ) {
    const stats = opts.stats ?? { stateTornLines: 0, stateCorruptFiles: 0, stateWriteErrors: 0 };
    this.journal = new StateJournal({ file, kind: 'mqtt5-sessions', log: opts.log, stats, now: opts.clocks.now, flushDelayMs: opts.flushDelayMs ?? 200 });
  }

  /** Do the files hold this client's session? */
  holds(clientId: string): boolean {
    return this.held.has(clientId);
  }

  mark(clientId: string): void {
    this.marked.add(clientId);
    if (this.loaded) this.journal.touch();
  }

  /** The lines that bring the files to a session's current state, and what the files then hold. */
  private diff(clientId: string, lines: string[]): void {
    const live = this.sessions.get(clientId);
    const s = live && live.expiryInterval !== 0 ? live : undefined;
    let h = this.held.get(clientId);
    if (h && h.session !== s) {
      lines.push(JSON.stringify({ s: clientId, gone: true }));
      this.held.delete(clientId);
      h = undefined;
    }
    if (!s) return;
    if (!h) {
      h = { session: s, meta: '', subs: new Map(), msgs: new Set() };
      this.held.set(clientId, h);
    }
    const meta = JSON.stringify({ s: clientId, e: s.expiryInterval, d: s.link ? null : (s.disconnectedAt ?? null) });
    if (meta !== h.meta) lines.push((h.meta = meta));
    for (const [filter, e] of s.subs) {
      if (h.subs.get(filter) === e) continue;
      const { levels: _levels, ...sub } = e;
      lines.push(JSON.stringify({ s: clientId, sub }));
      h.subs.set(filter, e);
    }
    for (const filter of h.subs.keys()) {
      if (s.subs.has(filter)) continue;
      lines.push(JSON.stringify({ s: clientId, unsub: filter }));
      h.subs.delete(filter);
    }
    const now = new Set<number>();
    const add = (m: OutMsg): void => {
      if (m.qos === 0) return;
      let n = this.numbers.get(m);
      if (n === undefined) this.numbers.set(m, (n = this.nextNumber++));
      now.add(n);
      if (h.msgs.has(n)) return;
      lines.push(JSON.stringify({ s: clientId, m: n, msg: this.stored(m) }));
      h.msgs.add(n);
    };
    for (const f of s.inflight.values()) add(f.msg);
    for (const m of s.queue) add(m);
    const acked: number[] = [];
    for (const n of h.msgs) if (!now.has(n)) acked.push(n);
    if (acked.length > 0) {
      lines.push(JSON.stringify({ s: clientId, acked }));
      for (const n of acked) h.msgs.delete(n);
    }
  }

  private stored(m: OutMsg): StoredMsg {
    // the deadline as wall time: a monotonic value means nothing to the next process
    const expiresAt = m.expiresAt === undefined ? undefined : wallOf(m.expiresAt, this.opts.clocks);
    return { ...m, expiresAt, payload: m.payload.toString('base64'), properties: encodeProps(m.properties) };
  }

  collect(): string[] {
    const lines: string[] = [];
    for (const id of this.marked) this.diff(id, lines);
    this.marked.clear();
    return lines;
  }

  *snapshot(): Iterable<string> {
    this.marked.clear();
    this.held.clear();
    for (const id of [...this.sessions.keys()]) {
      const lines: string[] = [];
      this.diff(id, lines);
      yield* lines;
    }
  }

  liveBytes(): undefined {
    return undefined;
  }

  /** The sessions of the last run still within their expiry, and the ms each has left. */
  async load(): Promise<Array<{ session: Session; left: number }>> {
    const byId = new Map<string, Loaded>();
    const apply = (r: StateRecord): void => {
      const id = r.s;
      if (typeof id !== 'string') return;
      if (r.gone === true) return void byId.delete(id);
      if (typeof r.e === 'number') {
        const d = typeof r.d === 'number' ? r.d : null;
        const l = byId.get(id);
        if (l) Object.assign(l, { e: r.e, d });
        else byId.set(id, { e: r.e, d, subs: new Map(), msgs: new Map() });
        return;
      }
      const l = byId.get(id);
      if (!l) return;
      if (typeof r.unsub === 'string') l.subs.delete(r.unsub);
      else if (isObject(r.sub) && typeof r.sub.filter === 'string') l.subs.set(r.sub.filter, r.sub as unknown as StoredSub);
      else if (typeof r.m === 'number' && isObject(r.msg)) l.msgs.set(r.m, r.msg as unknown as StoredMsg);
      else if (Array.isArray(r.acked)) for (const n of r.acked) l.msgs.delete(n as number);
    };
    const legacy = (doc: unknown): void => {
      const list = (doc as { sessions?: unknown }).sessions;
      if (!Array.isArray(list)) return;
      for (const st of list as LegacySession[]) {
        if (typeof st?.clientId !== 'string' || typeof st.expiryInterval !== 'number') continue;
        const msgs = new Map<number, StoredMsg>();
        for (const m of st.queue ?? []) msgs.set(this.nextNumber++, m);
        byId.set(st.clientId, { e: st.expiryInterval, d: st.disconnectedAt, subs: new Map((st.subs ?? []).map((e) => [e.filter, e])), msgs });
      }
    };
    // (a corrupt snapshot found after some of its records were read: none of it is kept)
    const report = await this.journal.load(this, apply, legacy, () => byId.clear());
    const now = this.opts.clocks.now();
    const out: Array<{ session: Session; left: number }> = [];
    const damaged = new DamagedRecords();
    for (const [id, l] of byId) {
      if (!Number.isInteger(l.e) || l.e < 0 || l.e > NEVER_EXPIRES) {
        damaged.note(id, `session expiry ${String(l.e)}`);
        this.held.set(id, { session: new Session(id), meta: '', subs: new Map(), msgs: new Set() });
        this.marked.add(id);
        continue;
      }
      // a session connected when the gateway stopped counts as disconnected from the last write
      const since = l.d ?? report.savedAt ?? now;
      const left = l.e === NEVER_EXPIRES ? Infinity : since + l.e * 1000 - now;
      if (left <= 0) {
        // expired while the gateway was down: the files hold it until a 'gone' line is written
        this.held.set(id, { session: new Session(id), meta: '', subs: new Map(), msgs: new Set() });
        this.marked.add(id);
        continue;
      }
      const s = new Session(id);
      s.expiryInterval = l.e;
      s.disconnectedAt = since;
      const h: Held = { session: s, meta: JSON.stringify({ s: id, e: l.e, d: l.d }), subs: new Map(), msgs: new Set() };
      for (const stored of l.subs.values()) {
        const e = soundSub(stored);
        if (typeof e === 'string') {
          damaged.note(id, e);
          this.marked.add(id);
          continue;
        }
        const entry: SubEntry = { ...e, levels: e.topicFilter.split('/') };
        h.subs.set(e.filter, entry);
        const refused = reservedSubscription(e.filter);
        if (refused === undefined) s.subs.set(e.filter, entry);
        else {
          this.opts.log.warn({ client: id, filter: e.filter }, `MQTT 5 session of ${id}: subscription to '${e.filter}' dropped at load (${refused})`);
          this.marked.add(id);
        }
      }
      for (const [n, stored] of [...l.msgs].sort((a, b) => a[0] - b[0])) {
        if (!Number.isSafeInteger(n)) continue;
        this.nextNumber = Math.max(this.nextNumber, n + 1);
        h.msgs.add(n);
        const m = soundMsg(stored);
        if (typeof m === 'string') {
          damaged.note(id, m);
          this.marked.add(id);
          continue;
        }
        if (m.expiresAt !== undefined && m.expiresAt !== null && m.expiresAt <= now) {
          this.marked.add(id);
          continue;
        }
        const expiresAt = m.expiresAt === undefined || m.expiresAt === null ? undefined : monotonicOf(m.expiresAt, this.opts.clocks);
        const msg: OutMsg = {
          ...m,
          expiresAt,
          payload: Buffer.from(m.payload, 'base64'),
          properties: decodeProps(m.properties) as PublishProperties | undefined,
        };
        this.numbers.set(msg, n);
        s.enqueue(msg);
      }
      this.held.set(id, h);
      this.sessions.set(id, s);
      out.push({ session: s, left });
    }
    damaged.report(this.opts.log, this.file, this.opts.stats);
    await this.journal.start();
    this.loaded = true;
    // what changed above (subscriptions dropped, messages expired, sessions expired) is written
    if (this.marked.size > 0) this.journal.touch();
    return out;
  }

  async close(): Promise<void> {
    await this.journal.close();
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Records of the files that parse but are not what this broker writes (a bit flipped in a key, a
 * value of another type: a damaged disk, a file edited by hand): each is left out, and they are
 * logged once with the first few and counted with the torn lines. One of them stopped the start:
 * a subscription without its topicFilter threw in load(), and the gateway did not start.
 */
class DamagedRecords {
  count = 0;
  private readonly examples: string[] = [];

  note(clientId: string, why: string): void {
    this.count++;
    if (this.examples.length < 3) this.examples.push(`${clientId}: ${why}`);
  }

  report(log: Logger, file: string, stats: JournalStats | undefined): void {
    if (this.count === 0) return;
    if (stats) stats.stateTornLines += this.count;
    log.warn(
      { file, ignoredRecords: this.count, examples: this.examples, code: 'GH_BROKER_STATE_FILE' },
      `mqtt5-sessions state: ${this.count} damaged record(s) left out (${this.examples.join('; ')})`,
    );
  }
}

const QOS = new Set<unknown>([0, 1, 2]);

/** A stored subscription as the broker can route it, or why not. */
function soundSub(e: StoredSub): StoredSub | string {
  if (typeof e.topicFilter !== 'string' || !validFilter(e.topicFilter)) return `subscription '${String(e.filter)}' without a valid topic filter`;
  if (!QOS.has(e.qos)) return `subscription '${e.filter}' with QoS ${String(e.qos)}`;
  const id = Number.isInteger(e.id) && (e.id as number) > 0 && (e.id as number) <= 268_435_455 ? e.id : undefined;
  return {
    filter: e.filter,
    topicFilter: e.topicFilter,
    share: typeof e.share === 'string' ? e.share : undefined,
    qos: e.qos,
    nl: e.nl === true,
    rap: e.rap === true,
    rh: e.rh === 1 || e.rh === 2 ? e.rh : 0,
    id,
  };
}

/** A stored queued message as the broker can send it, or why not. */
function soundMsg(m: StoredMsg): StoredMsg | string {
  if (typeof m.topic !== 'string' || m.topic === '') return `queued message without a topic`;
  if (typeof m.payload !== 'string') return `queued message on '${m.topic}' without a payload`;
  if (!QOS.has(m.qos)) return `queued message on '${m.topic}' with QoS ${String(m.qos)}`;
  const subIds = Array.isArray(m.subIds) && m.subIds.every((n) => Number.isInteger(n) && n > 0 && n <= 268_435_455) ? m.subIds : undefined;
  const expiresAt = typeof m.expiresAt === 'number' ? m.expiresAt : undefined;
  return { ...m, retain: m.retain === true, subIds, expiresAt };
}
