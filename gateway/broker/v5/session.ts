// MQTT 5 session state (it outlives connections for Session Expiry Interval seconds) and the
// session store, which keeps sessions with a non-zero expiry in a JSON file so they survive a
// gateway restart and still expire on time.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { decodeProps, encodeProps } from '../props-json.js';
import type { Logger } from 'pino';
import type { IPublishPacket } from 'mqtt-packet';
import { errorMessage } from '../../../core/errors.js';
import { monotonicOf, wallOf, type Clocks } from '../../../core/clock.js';

export type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** One subscription of a session. `filter` is as subscribed (may be $share/...); `topicFilter` is what matches. */
export interface SubEntry {
  filter: string;
  topicFilter: string;
  levels: string[];
  share: string | undefined;
  qos: 0 | 1 | 2;
  nl: boolean;
  rap: boolean;
  rh: number;
  id: number | undefined;
}

/** A message on its way to one session: the QoS and flags already fitted to its subscriptions. */
export interface OutMsg {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** v5 properties as published, without topic alias and subscription identifiers. */
  properties: PublishProperties | undefined;
  /**
   * Monotonic ms (RuntimeDeps.monotonic) after which the message is not delivered (Message Expiry
   * Interval: a time waited in the server, so a wall clock step must not expire or keep it). The
   * session file keeps it as wall time (epoch ms), converted at save and load.
   */
  expiresAt: number | undefined;
  subIds: number[] | undefined;
}

export interface InflightOut {
  packetId: number;
  msg: OutMsg;
  /** 'publish': PUBLISH sent, waiting for PUBACK/PUBREC; 'pubrel': PUBREL sent, waiting for PUBCOMP. */
  state: 'publish' | 'pubrel';
}

/** What a session needs from the connection it is attached to. */
export interface SessionLink {
  pump(): void;
}

/** Session expiry 0xFFFFFFFF: the session never expires. */
export const NEVER_EXPIRES = 0xffff_ffff;

export class Session {
  expiryInterval = 0;
  subs = new Map<string, SubEntry>();
  queue: OutMsg[] = [];
  /** Payload bytes in `queue` (bounded with the message count, context.ts deliver()). */
  queueBytes = 0;
  inflight = new Map<number, InflightOut>();
  /** QoS 2 packet ids received, PUBREC sent, PUBREL not yet received. */
  inboundQos2 = new Set<number>();
  private nextPacketId = 1;
  link: SessionLink | undefined = undefined;
  /**
   * Epoch ms (wall time) the last connection ended: only for the session file, where the expiry must
   * survive a restart (the expiry in memory is a timer, on the monotonic clock).
   */
  disconnectedAt: number | undefined = undefined;
  expiryTimer: NodeJS.Timeout | undefined = undefined;
  constructor(readonly clientId: string) {}

  enqueue(m: OutMsg): void {
    this.queue.push(m);
    this.queueBytes += m.payload.length;
  }

  dequeue(): OutMsg | undefined {
    const m = this.queue.shift();
    if (m) this.queueBytes -= m.payload.length;
    return m;
  }

  clearQueue(): void {
    this.queue.length = 0;
    this.queueBytes = 0;
  }

  packetId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = id >= 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    throw new Error('no free packet identifier');
  }
}

interface StoredSession {
  clientId: string;
  expiryInterval: number;
  disconnectedAt: number | null;
  subs: Array<Omit<SubEntry, 'levels'>>;
  queue: StoredMsg[];
}

/** A queued message in the file: `expiresAt` there is wall time (epoch ms), not monotonic. */
type StoredMsg = Omit<OutMsg, 'payload' | 'properties'> & { payload: string; properties?: unknown };

export interface SessionStoreOptions {
  /** JSON file for sessions with a session expiry; none: sessions live in memory only. */
  file: string | undefined;
  log: Logger;
  /** Wall time for what the file keeps (disconnectedAt, savedAt, message deadlines), monotonic in memory. */
  clocks: Clocks;
  /** Called when a session expires (its subscriptions must leave the router). */
  onExpire(s: Session): void;
  /** Told of each save and its size (tests, status). */
  onSaved?(bytes: number): void;
}

/** Shortest pause between two saves of the session file. */
const MIN_SAVE_INTERVAL_MS = 200;
/** Longest: what a kill -9 can lose of the sessions' queues, however large the file. */
const MAX_SAVE_INTERVAL_MS = 10_000;
/**
 * Bytes a second the file may cost on average. The whole file is rewritten on every save: one
 * offline session with 550 queued messages of 2 KiB is a 1.5 MB file, which every 200 ms was
 * 14 MB/s written to the SD card for a 20 KB/s trickle of messages (broker audit).
 */
const SAVE_BYTES_PER_SECOND = 512 * 1024;

/**
 * Sessions by client id. Saving is debounced (at most one write per 200 ms, longer for a large file
 * so it costs at most SAVE_BYTES_PER_SECOND, at most 10 s; atomic by rename);
 * stop() writes the final state. In-flight outbound messages are saved as queued (redelivered).
 */
export class SessionStore {
  readonly sessions = new Map<string, Session>();
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;
  /** The pause before the next save: grows with the file so it costs SAVE_BYTES_PER_SECOND at most. */
  private saveIntervalMs = MIN_SAVE_INTERVAL_MS;
  /** Monotonic ms when the last save ended (the interval counts from there). */
  private lastSaveEnd = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: SessionStoreOptions) {}

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  create(clientId: string): Session {
    this.remove(clientId);
    const s = new Session(clientId);
    this.sessions.set(clientId, s);
    return s;
  }

  remove(clientId: string): void {
    const s = this.sessions.get(clientId);
    if (!s) return;
    if (s.expiryTimer) clearTimeout(s.expiryTimer);
    this.sessions.delete(clientId);
    this.opts.onExpire(s);
    this.changed();
  }

  /** The connection ended: expire now, later, or never. */
  detached(s: Session): void {
    s.link = undefined;
    // a session replaced meanwhile (a clean start under the same id) is already gone
    if (this.sessions.get(s.clientId) !== s) return;
    s.disconnectedAt = this.opts.clocks.now();
    if (s.expiryInterval === 0) return this.remove(s.clientId);
    this.armExpiry(s, s.expiryInterval * 1000);
    this.changed();
  }

  attached(s: Session): void {
    if (s.expiryTimer) clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
    s.disconnectedAt = undefined;
  }

  private armExpiry(s: Session, ms: number): void {
    if (s.expiryTimer) clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
    if (s.expiryInterval === NEVER_EXPIRES) return;
    // setTimeout holds at most ~24.8 days: re-arm until the real deadline
    const step = Math.min(ms, 2 ** 31 - 1);
    s.expiryTimer = setTimeout(() => {
      if (ms > step) this.armExpiry(s, ms - step);
      else if (this.sessions.get(s.clientId) === s && !s.link) this.remove(s.clientId);
    }, step);
    s.expiryTimer.unref();
  }

  /** Something worth saving changed. */
  changed(): void {
    if (!this.opts.file || this.closed || this.saveTimer) return;
    this.armSave(this.saveIntervalMs);
  }

  /**
   * Save in `ms`, or later if the last save ended less than saveIntervalMs ago: a change while a
   * large file was being written was armed with the interval from before that write.
   */
  private armSave(ms: number): void {
    this.saveTimer = setTimeout(() => {
      this.saving = this.saving.then(() => {
        const rest = this.lastSaveEnd + this.saveIntervalMs - this.opts.clocks.monotonic();
        if (rest > 1 && !this.closed) return this.armSave(rest);
        this.saveTimer = undefined;
        return this.save();
      });
    }, ms);
    this.saveTimer.unref();
  }

  async load(): Promise<Session[]> {
    const file = this.opts.file;
    if (!file) return [];
    let raw: string;
    try {
      raw = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.log.warn({ err: errorMessage(err), file }, 'cannot read MQTT 5 sessions: starting without them');
      return [];
    }
    let stored: { savedAt: number; sessions: StoredSession[] };
    try {
      stored = JSON.parse(raw) as typeof stored;
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err), file }, 'MQTT 5 session file is corrupt: starting without sessions');
      return [];
    }
    const now = this.opts.clocks.now();
    const out: Session[] = [];
    for (const st of stored.sessions ?? []) {
      // a session connected when the gateway stopped counts as disconnected from the last save
      const since = st.disconnectedAt ?? stored.savedAt;
      const left = st.expiryInterval === NEVER_EXPIRES ? Infinity : since + st.expiryInterval * 1000 - now;
      if (left <= 0) continue;
      const s = new Session(st.clientId);
      s.expiryInterval = st.expiryInterval;
      s.disconnectedAt = since;
      for (const e of st.subs) s.subs.set(e.filter, { ...e, levels: e.topicFilter.split('/') });
      for (const m of st.queue) {
        if (m.expiresAt !== undefined && m.expiresAt <= now) continue;
        const expiresAt = m.expiresAt === undefined ? undefined : monotonicOf(m.expiresAt, this.opts.clocks);
        s.enqueue({ ...m, expiresAt, payload: Buffer.from(m.payload, 'base64'), properties: decodeProps(m.properties) as PublishProperties | undefined });
      }
      this.sessions.set(s.clientId, s);
      if (left !== Infinity) this.armExpiry(s, left);
      out.push(s);
    }
    return out;
  }

  private async save(): Promise<void> {
    const file = this.opts.file;
    if (!file) return;
    const sessions: StoredSession[] = [];
    for (const s of this.sessions.values()) {
      if (s.expiryInterval === 0) continue;
      const queue: StoredMsg[] = [];
      for (const m of [...[...s.inflight.values()].map((i) => i.msg), ...s.queue]) {
        if (m.qos === 0) continue;
        // the deadline as wall time: a monotonic value means nothing to the next process
        const expiresAt = m.expiresAt === undefined ? undefined : wallOf(m.expiresAt, this.opts.clocks);
        queue.push({ ...m, expiresAt, payload: m.payload.toString('base64'), properties: encodeProps(m.properties) });
      }
      sessions.push({
        clientId: s.clientId,
        expiryInterval: s.expiryInterval,
        disconnectedAt: s.link ? null : (s.disconnectedAt ?? null),
        subs: [...s.subs.values()].map(({ levels: _levels, ...rest }) => rest),
        queue,
      });
    }
    const tmp = `${file}.tmp`;
    try {
      const text = JSON.stringify({ savedAt: this.opts.clocks.now(), sessions });
      await writeFile(tmp, text);
      await rename(tmp, file);
      this.saveIntervalMs = Math.min(MAX_SAVE_INTERVAL_MS, Math.max(MIN_SAVE_INTERVAL_MS, (text.length / SAVE_BYTES_PER_SECOND) * 1000));
      this.opts.onSaved?.(text.length);
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err), file }, 'cannot save MQTT 5 sessions');
    }
    this.lastSaveEnd = this.opts.clocks.monotonic();
  }

  /** Write the final state and stop timers. */
  async close(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saving;
    await this.save();
    this.closed = true;
    for (const s of this.sessions.values()) if (s.expiryTimer) clearTimeout(s.expiryTimer);
  }
}
