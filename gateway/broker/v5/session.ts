// MQTT 5 session state (it outlives connections for Session Expiry Interval seconds) and the
// session store, which keeps sessions with a non-zero expiry in `mqtt5-sessions.json` (a snapshot)
// and its journal (session-file.ts, state-journal.ts) so they survive a gateway restart and still
// expire on time.
import type { Logger } from 'pino';
import type { IPublishPacket } from 'mqtt-packet';
import type { Clocks } from '../../../core/clock.js';
import { propertiesBytes } from '../session-queues.js';

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

/**
 * What a queued message counts in outbound.maxQueueBytes: its payload and its properties (~64 KiB
 * of user properties may come with a one-byte payload; uncounted, they passed the bound 16 times over).
 */
export function outMsgBytes(m: OutMsg): number {
  return m.payload.length + (m.properties === undefined ? 0 : propertiesBytes(m.properties));
}

/** What a session needs from the connection it is attached to. */
export interface SessionLink {
  pump(): void;
  /** Resolves at the next pump (the queue may have room again) or when the connection closes. */
  pumped(): Promise<void>;
  /** The connection closed: pumped() resolves at once (a wait on it would spin). */
  readonly closed: boolean;
}

/** Session expiry 0xFFFFFFFF: the session never expires. */
export const NEVER_EXPIRES = 0xffff_ffff;

export class Session {
  expiryInterval = 0;
  subs = new Map<string, SubEntry>();
  queue: OutMsg[] = [];
  /** Bytes in `queue`, payloads and properties (outMsgBytes; bounded with the message count, context.ts deliver()). */
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
    this.queueBytes += outMsgBytes(m);
  }

  dequeue(): OutMsg | undefined {
    const m = this.queue.shift();
    if (m) this.queueBytes -= outMsgBytes(m);
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

/** Where sessions with an expiry are kept across restarts (session-file.ts). */
export interface SessionPersistence {
  /** This client's session changed (or ended). */
  mark(clientId: string): void;
  /** Do the files hold this client's session? */
  holds(clientId: string): boolean;
  /** The sessions of the last run still within their expiry (put in the map), with the ms each has left. */
  load(): Promise<Array<{ session: Session; left: number }>>;
  /** Write the final state. */
  close(): Promise<void>;
}

export interface SessionStoreOptions {
  /** Keeps sessions with a session expiry across restarts, given the store's map; none: memory only. */
  persistence?: (sessions: Map<string, Session>) => SessionPersistence;
  log: Logger;
  /** Wall time for disconnectedAt, monotonic in memory. */
  clocks: Clocks;
  /** Called when a session expires (its subscriptions must leave the router). */
  onExpire(s: Session): void;
  /** mqtt5.maxSessionExpirySeconds: sessions of an earlier run are held to it at load. */
  maxExpirySeconds?: number | undefined;
}

/**
 * Sessions by client id. A change marks its session; the marked sessions' changes (meta data,
 * subscriptions added or removed, queued QoS 1/2 messages added or gone) are appended to the
 * journal within 200 ms, one batch a write (session-file.ts); close() writes a final snapshot.
 * In-flight outbound messages are saved as queued (redelivered).
 */
export class SessionStore {
  readonly sessions = new Map<string, Session>();
  readonly file: SessionPersistence | undefined;

  constructor(private readonly opts: SessionStoreOptions) {
    this.file = opts.persistence?.(this.sessions);
  }

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
    this.file?.mark(clientId);
  }

  /**
   * The session disconnected longest ago (no connection, earliest disconnectedAt), or undefined
   * when every session is connected. O(sessions): only for a CONNECT that finds the table full.
   */
  oldestDisconnected(): Session | undefined {
    let oldest: Session | undefined;
    for (const s of this.sessions.values()) {
      if (s.link || s.disconnectedAt === undefined) continue;
      if (!oldest || s.disconnectedAt < oldest.disconnectedAt!) oldest = s;
    }
    return oldest;
  }

  /** The connection ended: expire now, later, or never. */
  detached(s: Session): void {
    s.link = undefined;
    // a session replaced meanwhile (a clean start under the same id) is already gone
    if (this.sessions.get(s.clientId) !== s) return;
    s.disconnectedAt = this.opts.clocks.now();
    if (s.expiryInterval === 0) return this.remove(s.clientId);
    this.armExpiry(s, s.expiryInterval * 1000);
    this.changed(s);
  }

  attached(s: Session): void {
    if (s.expiryTimer) clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
    s.disconnectedAt = undefined;
    this.changed(s);
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

  /** Something worth saving changed in this session (its subscriptions, its queue, its expiry). */
  changed(s: Session): void {
    if (s.expiryInterval !== 0 || this.file?.holds(s.clientId)) this.file?.mark(s.clientId);
  }

  /** The sessions of the last run, still within their expiry. */
  async load(): Promise<Session[]> {
    if (!this.file) return [];
    const out = await this.file.load();
    const cap = this.opts.maxExpirySeconds;
    for (const { session, left } of out) {
      if (cap !== undefined && session.expiryInterval > cap) {
        // what is left of it, but no more than the cap from now (the cap may be new since the save)
        session.expiryInterval = cap;
        this.armExpiry(session, Math.min(left, cap * 1000));
        this.changed(session);
      } else if (left !== Infinity) this.armExpiry(session, left);
    }
    return out.map((o) => o.session);
  }

  /** Write the final state and stop timers. */
  async close(): Promise<void> {
    await this.file?.close();
    for (const s of this.sessions.values()) if (s.expiryTimer) clearTimeout(s.expiryTimer);
  }
}
