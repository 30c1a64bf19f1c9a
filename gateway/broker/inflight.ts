// The durability side of authorizePublish: every client publish is handed to the gateway
// (deps.onPublish), at most maxInflight commits per client at a time, in order. For QoS 1/2 the
// aedes callback (which sends the PUBACK/PUBREC) waits for the commit; see index.ts.
import type { Logger } from 'pino';
import type { Message } from '../../core/message.js';
import { errorMessage } from '../../core/errors.js';
import type { ConnState } from './connection.js';
import type { BrokerStats } from './metrics.js';
import { PublishBucket, type PublishRateLimits, type ThrottleNotes } from './rate-limit.js';
import { holdRead, readOn } from './read-gate.js';

/** Waiting publishes per client beyond maxInflight. aedes reads no more from a socket until every
 * packet of the last read chunk is in a commit slot or handled (read-gate.ts), so this is bounded
 * by one chunk; the cap is a guard. */
export const MAX_WAITING = 65_536;
/** At most one refused-publish warning per this interval (monotonic ms). */
export const REJECT_LOG_MS = 60_000;

export interface CommitDeps {
  stats: BrokerStats;
  log: Logger;
  /** Monotonic ms (the warnings' rate limit). */
  monotonic: () => number;
  maxInflight: number;
  /** The broker's deps: onPublish is called as its method, as aedes' caller would. */
  sink: { onPublish(msg: Message): Promise<void> | undefined };
  /** Throttle bookkeeping of the per-client publish rate limits (ConnState.rateLimits; rate-limit.ts). */
  throttle: ThrottleNotes;
  /** What an MQTT 5 client was told of a refused QoS 1/2 publish, for the warning ('negative PUBACK 0x97 sent'). */
  v5Answer: (err: unknown) => string;
}

export interface CommitWindow {
  /** Commit msg now, or queue it behind the client's in-flight commits; cb acks (or refuses) it. */
  submit(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void;
  /**
   * Resolves once every will handed over so far has been answered (its cb called: aedes then
   * starts publishing it at once). The stop waits for it (close-clients.ts).
   */
  willsAnswered(): Promise<void>;
}

export function createCommitWindow(deps: CommitDeps): CommitWindow {
  const { stats, log, monotonic, maxInflight, sink } = deps;
  const notes = deps.throttle;
  let lastRejectLog = -Infinity;
  /** Refusals since the last warning (its `suppressed`). */
  let rejectsUnlogged = 0;
  /** Wills handed over and not yet answered, and who waits for them (willsAnswered). */
  let willsPending = 0;
  let willWaiters: Array<() => void> = [];

  /** cb of a will, counted until it has run (aedes calls publish for the will inside it). */
  const answerWill = (cb: (err?: Error | null) => void): ((err?: Error | null) => void) => {
    willsPending++;
    return (err) => {
      try {
        cb(err);
      } finally {
        if (--willsPending === 0) {
          const waiters = willWaiters;
          willWaiters = [];
          for (const resolve of waiters) resolve();
        }
      }
    };
  };

  const logRejection = (st: ConnState, err: unknown, topic: string, qos: number): void => {
    stats.publishRejected++;
    const t = monotonic();
    // one warning a minute at most, with the number it stands for: a full stream or disk refuses
    // every publish for hours while the upstream is down, and the journal is on the SD card (once a
    // second was 3,600 lines an hour; docs/benchmarks.md, round 32)
    if (t - lastRejectLog >= REJECT_LOG_MS) {
      lastRejectLog = t;
      const suppressed = rejectsUnlogged;
      rejectsUnlogged = 0;
      // what the client was told: a 3.1.1 client nothing (its connection is closed), QoS 0 nothing,
      // an MQTT 5 client a negative PUBACK/PUBREC (deps.v5Answer: the reason codes live in v5/)
      const answer = qos > 0 && st.client.version === 5 ? deps.v5Answer(err) : 'no PUBACK sent';
      log.warn(
        { err: errorMessage(err), topic, client: st.client.id, rejectedTotal: stats.publishRejected, ...(suppressed > 0 ? { suppressed } : {}) },
        `gateway refused a client publish (${answer})`,
      );
    } else rejectsUnlogged++;
  };

  function submit(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void {
    if (gone(st)) {
      // a closed connection's publish is its will: after what the client sent before it (aedes
      // drops, per 3.1.1 subscriber, a message numbered below one it delivered), never held for
      // a budget the connection no longer needs
      const answer = answerWill(cb);
      if (st.waiting.length === 0) return msg.qos === 0 ? dispatch0(st, msg, answer) : dispatch(st, msg, answer);
      st.waiting.push({ msg, cb: answer, will: true });
      return pump(st);
    }
    if (st.inflight >= maxInflight || st.waiting.length > 0) {
      if (st.waiting.length >= MAX_WAITING) return cb(new Error('too many publishes waiting for the gateway'));
      st.waiting.push({ msg, cb });
      return;
    }
    if (st.rateLimits !== undefined && !take(st, st.rateLimits, msg)) {
      // over its rate: the publish waits, and with it the reading of the client's socket
      st.waiting.push({ msg, cb });
      return hold(st);
    }
    if (msg.qos === 0) dispatch0(st, msg, cb);
    else dispatch(st, msg, cb);
  }

  /**
   * QoS 0: nothing to ack, but the commit still takes one of the client's in-flight slots, so a
   * QoS 0 flood meets the same bound as QoS 1 (the socket is not read while the client is at
   * maxInflight) instead of piling up pending appends in memory without limit.
   */
  function dispatch0(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void {
    let p: Promise<void> | undefined;
    try {
      p = sink.onPublish(msg);
    } catch (err) {
      logRejection(st, err, '(qos 0)', 0);
    }
    if (p) {
      st.inflight++;
      st.qos0Done ??= () => release(st);
      st.qos0Failed ??= (err: unknown) => {
        logRejection(st, err, '(qos 0)', 0);
        release(st);
      };
      p.then(st.qos0Done, st.qos0Failed);
    }
    cb(null);
  }

  /** Hand a QoS 1/2 message to the gateway; ack (call back) when it is committed. */
  function dispatch(st: ConnState, msg: Message, cb: (err?: Error | null) => void): void {
    let p: Promise<void> | undefined;
    try {
      p = sink.onPublish(msg);
    } catch (err) {
      logRejection(st, err, msg.topic, msg.qos);
      return cb(err instanceof Error ? err : new Error(String(err)));
    }
    if (p === undefined) return cb(null);
    st.inflight++;
    // in a commit slot: the client's socket may be read on while it waits (read-gate.ts; not a
    // will, which no read of the client brought)
    const gated = !gone(st);
    if (gated) readOn(st.client);
    // two small closures per QoS 1/2 message: the promise API offers no cheaper way to carry cb
    p.then(
      () => settle(st, cb, null, msg, gated),
      (err: unknown) => settle(st, cb, err, msg, gated),
    );
  }

  function settle(st: ConnState, cb: (err?: Error | null) => void, err: unknown, msg: Message, gated: boolean): void {
    // aedes counts the publish down once cb has written its answer
    if (gated) holdRead(st.client);
    if (err === null) cb(null);
    else {
      logRejection(st, err, msg.topic, msg.qos);
      cb(err instanceof Error ? err : new Error(String(err)));
    }
    release(st);
  }

  /** One in-flight slot is free: hand waiting publishes on, in order. */
  function release(st: ConnState): void {
    st.inflight--;
    pump(st);
  }

  /** Hand waiting publishes on, in order, while the client has in-flight slots and (with a rate limit) budget. */
  function pump(st: ConnState): void {
    while (st.inflight < maxInflight && st.waiting.length > 0) {
      const w = st.waiting[0]!;
      if (gone(st)) {
        st.waiting.shift();
        // the client is gone: a QoS 1/2 publish gets no ack and will be resent, so it is not stored
        // now; a QoS 0 one was sent for good, so it is, and so is the will (no rate limit now)
        if (w.msg.qos === 0) dispatch0(st, w.msg, w.cb);
        else if (w.will) dispatch(st, w.msg, w.cb);
        else w.cb(new Error('connection closed'));
        continue;
      }
      if (st.rateLimits !== undefined) {
        // waiting for budget: the timer sends them on
        if (st.rateTimer !== undefined) return;
        if (!take(st, st.rateLimits, w.msg)) return hold(st);
      }
      st.waiting.shift();
      if (w.msg.qos === 0) dispatch0(st, w.msg, w.cb);
      else dispatch(st, w.msg, w.cb);
    }
    if (st.throttledSince >= 0 && st.rateTimer === undefined) notes.ended(st, monotonic());
  }

  /** The connection is closed (aedes marks its client closed before the socket's 'close' event). */
  function gone(st: ConnState): boolean {
    return st.closed || (st.client as { closed?: boolean }).closed === true;
  }

  /** Take the publish's tokens from the client's budget (made full at its first publish). */
  function take(st: ConnState, limits: PublishRateLimits, msg: Message): boolean {
    const t = monotonic();
    return (st.bucket ??= new PublishBucket(limits, t)).take(msg.payload.length, t);
  }

  /** The client's next publish waits for its budget: note it, and look again when tokens return. */
  function hold(st: ConnState): void {
    const t = monotonic();
    if (st.throttledSince < 0) notes.started(st, t);
    st.ratePump ??= () => {
      st.rateTimer = undefined;
      notes.tick(st, monotonic());
      // held publishes are the client's sign of life: its socket is not read meanwhile
      st.refreshKeepalive?.();
      pump(st);
    };
    st.rateTimer = setTimeout(st.ratePump, st.bucket!.waitMs());
    // the client's socket keeps the process up; a stopping broker does not wait for this
    st.rateTimer.unref();
  }

  function willsAnswered(): Promise<void> {
    return willsPending === 0 ? Promise.resolve() : new Promise<void>((resolve) => willWaiters.push(resolve));
  }

  return { submit, willsAnswered };
}
