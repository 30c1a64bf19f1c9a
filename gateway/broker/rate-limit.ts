// Per-client publish rate limit (broker.maxPublishRatePerClient, maxPublishBytesPerSecPerClient,
// publishRateBurstSeconds): one token bucket per connection, for publishes and payload bytes.
//
// Enforcement is backpressure, as EMQX's messages_rate / bytes_rate: a publish that finds the
// bucket empty waits in the client's commit queue (inflight.ts) like one beyond maxInflight, and
// both protocol paths stop reading a socket while its client has publishes waiting (aedes reads
// the next chunk only when every packet of the last one is called back; the v5 layer pauses the
// socket). The device meets TCP backpressure; nothing is dropped or refused, QoS 0 included.
//
// The bucket may go into debt: a publish passes when both budgets are above zero and then takes
// its full size, so a publish larger than the byte burst still passes (and its client waits
// longer after it); the average over time is the configured rate either way. take() is O(1) and
// allocates nothing: it runs for every publish of a limited client.
import type { Logger } from 'pino';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';

/** Shortest wait of a throttled client: tokens then arrive for a batch of publishes, not one. */
export const MIN_WAIT_MS = 20;
/** Longest wait before the budget is looked at again (a huge publish's debt is waited off in steps). */
export const MAX_WAIT_MS = 1000;
/** Warnings naming a throttled client: one per client per minute, at most this many a minute overall. */
export const LOG_INTERVAL_MS = 60_000;
export const MAX_LOGS_PER_INTERVAL = 10;

export interface PublishRateLimits {
  /** Publishes per second (0: no limit). */
  msgsPerSec: number;
  /** Payload bytes per second (0: no limit). */
  bytesPerSec: number;
  /** The bucket's size in seconds of the rates. */
  burstSeconds: number;
}

/** The limits of the broker options, or undefined when neither limit is set. */
export function publishRateLimits(o: BrokerOptions): PublishRateLimits | undefined {
  return limitsOf(o.maxPublishRatePerClient, o.maxPublishBytesPerSecPerClient, o.publishRateBurstSeconds);
}

function limitsOf(msgsPerSec: number, bytesPerSec: number, burstSeconds: number): PublishRateLimits | undefined {
  if (msgsPerSec <= 0 && bytesPerSec <= 0) return undefined;
  return { msgsPerSec, bytesPerSec, burstSeconds };
}

/** The limits of a client by its user name: the user's own (users[]) where set, else the broker's. Made once. */
export function publishRateLimitsByUser(o: BrokerOptions): (user: string | undefined) => PublishRateLimits | undefined {
  const broker = publishRateLimits(o);
  const byUser = new Map<string, PublishRateLimits | undefined>();
  for (const u of o.users) {
    if (u.maxPublishRatePerClient === undefined && u.maxPublishBytesPerSecPerClient === undefined) continue;
    byUser.set(
      u.username,
      limitsOf(
        u.maxPublishRatePerClient ?? o.maxPublishRatePerClient,
        u.maxPublishBytesPerSecPerClient ?? o.maxPublishBytesPerSecPerClient,
        o.publishRateBurstSeconds,
      ),
    );
  }
  return (user) => (user !== undefined && byUser.has(user) ? byUser.get(user) : broker);
}

export class PublishBucket {
  /** Tokens per ms; 0 for a dimension without limit (its tokens are then Infinity). */
  private readonly msgRate: number;
  private readonly byteRate: number;
  private readonly maxMsgs: number;
  private readonly maxBytes: number;
  private msgs: number;
  private bytes: number;
  private last: number;

  constructor(limits: PublishRateLimits, now: number) {
    this.msgRate = limits.msgsPerSec > 0 ? limits.msgsPerSec / 1000 : 0;
    this.byteRate = limits.bytesPerSec > 0 ? limits.bytesPerSec / 1000 : 0;
    this.maxMsgs = limits.msgsPerSec > 0 ? Math.max(1, limits.msgsPerSec * limits.burstSeconds) : Infinity;
    this.maxBytes = limits.bytesPerSec > 0 ? Math.max(1, limits.bytesPerSec * limits.burstSeconds) : Infinity;
    this.msgs = this.maxMsgs;
    this.bytes = this.maxBytes;
    this.last = now;
  }

  /** Take one publish of `size` payload bytes when both budgets are above zero (it may leave them in debt); false: nothing taken. */
  take(size: number, now: number): boolean {
    const dt = now - this.last;
    if (dt > 0) {
      this.last = now;
      this.msgs = Math.min(this.msgs + dt * this.msgRate, this.maxMsgs);
      this.bytes = Math.min(this.bytes + dt * this.byteRate, this.maxBytes);
    }
    if (this.msgs <= 0 || this.bytes <= 0) return false;
    this.msgs -= 1;
    this.bytes -= size;
    return true;
  }

  /** Milliseconds until take() can pass again (at least MIN_WAIT_MS, at most MAX_WAIT_MS). */
  waitMs(): number {
    let ms = 0;
    if (this.msgs <= 0 && this.msgRate > 0) ms = (1 - this.msgs) / this.msgRate;
    if (this.bytes <= 0 && this.byteRate > 0) ms = Math.max(ms, (1 - this.bytes) / this.byteRate);
    return Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, Math.ceil(ms)));
  }
}

/**
 * What the throttle bookkeeping reads and writes of a connection: ConnState (connection.ts) has it.
 * Structural, so this module does not import connection.ts, which imports its bucket types.
 */
export interface ThrottledClient {
  readonly client: { readonly id: string };
  readonly listener: string;
  readonly ip: string | undefined;
  user: string | undefined;
  rateLimits: PublishRateLimits | undefined;
  throttledSince: number;
  throttles: number;
  throttledMs: number;
  lastThrottleLog: number;
}

/** Throttle bookkeeping of the commit window: counters, the per-client status, the bounded warning. */
export interface ThrottleNotes {
  /** st's publishes started waiting for its budget. */
  started(st: ThrottledClient, now: number): void;
  /** st's publishes still wait (each timer tick): their wait so far is added to the totals. */
  tick(st: ThrottledClient, now: number): void;
  /** st's publishes no longer wait for its budget (sent on, or the connection closed). */
  ended(st: ThrottledClient, now: number): void;
}

export function createThrottleNotes(stats: BrokerStats, log: Logger): ThrottleNotes {
  let windowStart = -Infinity;
  let logged = 0;
  let suppressed = 0;
  return {
    started(st, now) {
      st.throttledSince = now;
      st.throttles++;
      stats.throttles++;
      stats.clientsThrottled++;
      if (now - st.lastThrottleLog < LOG_INTERVAL_MS) return;
      if (now - windowStart >= LOG_INTERVAL_MS) {
        windowStart = now;
        logged = 0;
      }
      if (logged >= MAX_LOGS_PER_INTERVAL) {
        suppressed++;
        return;
      }
      logged++;
      st.lastThrottleLog = now;
      log.warn(
        {
          client: st.client.id,
          user: st.user,
          ip: st.ip,
          listener: st.listener,
          maxPublishRatePerClient: st.rateLimits?.msgsPerSec,
          maxPublishBytesPerSecPerClient: st.rateLimits?.bytesPerSec,
          throttles: st.throttles,
          ...(suppressed > 0 ? { otherClientsNotLogged: suppressed } : {}),
        },
        'client publishing over its rate limit: its socket is read more slowly (nothing dropped); one line per client per minute',
      );
      suppressed = 0;
    },
    tick(st, now) {
      if (st.throttledSince < 0) return;
      const ms = now - st.throttledSince;
      st.throttledMs += ms;
      stats.throttledMs += ms;
      st.throttledSince = now;
    },
    ended(st, now) {
      if (st.throttledSince < 0) return;
      this.tick(st, now);
      stats.clientsThrottled--;
      st.throttledSince = -1;
    },
  };
}
