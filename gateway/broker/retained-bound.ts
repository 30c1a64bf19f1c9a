// A bound on retained messages. aedes keeps every retained message for ever (and the gateway keeps
// it on disk too: retained-file.ts), so a client retaining on ever new topics (a status topic per
// made-up client id, a counter in the topic) grew the heap and the state file without bound. As
// EMQX's retainer.max_retained_messages: past `maxRetainedMessages` topics or
// `maxRetainedBytes` bytes (each message's topic, payload and MQTT 5 properties: retainedBytes), a retained publish
// to a new topic (or one that would pass the byte bound) is delivered to the subscribers there now but not retained; counted and warned at a
// bounded rate. Replacing a topic's message within the bounds and clearing it (empty payload)
// always pass. What a previous run left is loaded whatever the bounds (they may have been lowered).
// An MQTT 5 message whose Message Expiry passed is no longer sent to anyone but stays in aedes'
// store until replaced: when a retained publish finds the bounds full, such messages are dropped
// first (`drop`: from the store and the state file) and their room goes to it. That look walks the
// messages that have an expiry, at most once a second, and only once one of them has expired.
//
// The gateway's own retained state (its rule status, a topic only the gateway publishes) is not what
// the bounds are for (mosquitto's max retained bounds what clients store): its topics are `exempt`,
// never counted nor refused, also when loaded at start. They are a fixed few (one), so the
// exemption cannot grow the store.
//
// Invariants: `bytes` holds each retained topic once with its size (retainedBytes), and `total`
// their sum; `expiry` holds the topics of `bytes` whose message has a Message Expiry (monotonic ms), and
// `nextExpiry` is at most the earliest of them; no topic of `exempt` is in `bytes`.
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';
import { payloadBytes, propertiesBytes } from './session-queues.js';

export interface RetainedBoundOptions {
  maxMessages: number;
  maxBytes: number;
  /** Topics of the gateway's own retained state (BrokerDeps.gatewayStateTopics): neither counted nor refused. */
  exempt: ReadonlySet<string>;
  stats: BrokerStats;
  rateLog: RateLog;
  /** The monotonic clock (ms) Message Expiry deadlines are on. */
  monotonic: () => number;
  /** Remove an expired retained message from the store and the state file (not through admit). */
  drop: (topic: string) => void;
}

/** Expired messages are looked for at most this often (ms). */
const EXPIRED_LOOK_INTERVAL_MS = 1000;

/**
 * What a retained message counts in maxRetainedBytes: its topic, its payload and its MQTT 5
 * properties (a topic may be up to maxTopicLength bytes, and was kept with a payload of one byte
 * as easily; a v5 PUBLISH may carry ~64 KiB of user properties beside a one-byte payload, and they
 * are kept with it, in memory and in the state file: uncounted, 100,000 such topics held 6 GB
 * under a 64 MiB bound). 0 for a clear.
 */
export function retainedBytes(topic: string, payload: Buffer | string | undefined, properties?: unknown): number {
  const n = payloadBytes(payload);
  return n === 0 ? 0 : n + Buffer.byteLength(topic) + propertiesBytes(properties);
}

export class RetainedBound {
  private readonly bytes = new Map<string, number>();
  private readonly expiry = new Map<string, number>();
  private total = 0;
  private nextExpiry = Number.POSITIVE_INFINITY;
  private lastLook = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: RetainedBoundOptions) {}

  /** A retained message loaded at start: counted, never refused. `expiresAt`: its Message Expiry (monotonic ms). */
  loaded(topic: string, size: number, expiresAt?: number): void {
    if (this.o.exempt.has(topic)) return;
    this.set(topic, size, expiresAt);
  }

  /** Whether a retained publish of `size` (retainedBytes) may be stored (counts updated when it may). */
  admit(topic: string, size: number, expiresAt?: number): boolean {
    if (this.o.exempt.has(topic)) return true;
    // (an empty payload clears the topic's message)
    if (size === 0) {
      if (this.remove(topic)) this.report();
      return true;
    }
    if (!this.fits(topic, size) && !(this.dropExpired() && this.fits(topic, size))) {
      this.o.stats.retainedRefused++;
      this.o.rateLog(
        'retained-full',
        {
          topic,
          retained: this.bytes.size,
          retainedBytes: this.total,
          maxRetainedMessages: this.o.maxMessages,
          maxRetainedBytes: this.o.maxBytes,
          refused: this.o.stats.retainedRefused,
        },
        'retained messages full: a retained publish was delivered but not retained (broker.maxRetainedMessages / maxRetainedBytes)',
      );
      return false;
    }
    this.set(topic, size, expiresAt);
    return true;
  }

  private fits(topic: string, size: number): boolean {
    const old = this.bytes.get(topic);
    if (old === undefined && this.bytes.size >= this.o.maxMessages) return false;
    return this.total - (old ?? 0) + size <= this.o.maxBytes;
  }

  /** Drop the messages whose Message Expiry passed; whether any was. */
  private dropExpired(): boolean {
    const now = this.o.monotonic();
    if (now < this.nextExpiry || now - this.lastLook < EXPIRED_LOOK_INTERVAL_MS) return false;
    this.lastLook = now;
    let next = Number.POSITIVE_INFINITY;
    const expired: string[] = [];
    for (const [topic, at] of this.expiry) {
      if (at <= now) expired.push(topic);
      else if (at < next) next = at;
    }
    this.nextExpiry = next;
    for (const topic of expired) {
      this.remove(topic);
      this.o.drop(topic);
    }
    this.o.stats.retainedExpiredDropped += expired.length;
    if (expired.length > 0) this.report();
    return expired.length > 0;
  }

  private set(topic: string, size: number, expiresAt: number | undefined): void {
    this.total += size - (this.bytes.get(topic) ?? 0);
    this.bytes.set(topic, size);
    if (expiresAt === undefined) this.expiry.delete(topic);
    else {
      this.expiry.set(topic, expiresAt);
      if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    }
    this.report();
  }

  /** Forget a topic's message; whether there was one. */
  private remove(topic: string): boolean {
    const old = this.bytes.get(topic);
    if (old === undefined) return false;
    this.bytes.delete(topic);
    this.expiry.delete(topic);
    this.total -= old;
    return true;
  }

  private report(): void {
    this.o.stats.retainedMessages = this.bytes.size;
    this.o.stats.retainedBytes = this.total;
  }
}
