// A bound on retained messages. aedes keeps every retained message for ever (and the gateway keeps
// it on disk too: retained-file.ts), so a client retaining on ever new topics (a status topic per
// made-up client id, a counter in the topic) grew the heap and the state file without bound. As
// EMQX's retainer.max_retained_messages: past `maxRetainedMessages` topics or
// `maxRetainedBytes` payload bytes, a retained publish to a new topic (or one that would pass the
// byte bound) is delivered to the subscribers there now but not retained; counted and warned at a
// bounded rate. Replacing a topic's message within the bounds and clearing it (empty payload)
// always pass. What a previous run left is loaded whatever the bounds (they may have been lowered).
//
// Invariant: `bytes` holds each retained topic once with its payload size, and `total` their sum.
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';

export interface RetainedBoundOptions {
  maxMessages: number;
  maxBytes: number;
  stats: BrokerStats;
  rateLog: RateLog;
}

export class RetainedBound {
  private readonly bytes = new Map<string, number>();
  private total = 0;

  constructor(private readonly o: RetainedBoundOptions) {}

  /** A retained message loaded at start: counted, never refused. */
  loaded(topic: string, payloadBytes: number): void {
    this.set(topic, payloadBytes);
  }

  /** Whether a retained publish may be stored (counts updated when it may). */
  admit(topic: string, payloadBytes: number): boolean {
    const old = this.bytes.get(topic);
    if (payloadBytes === 0) {
      if (old !== undefined) {
        this.bytes.delete(topic);
        this.total -= old;
        this.report();
      }
      return true;
    }
    const tooMany = old === undefined && this.bytes.size >= this.o.maxMessages;
    const tooBig = this.total - (old ?? 0) + payloadBytes > this.o.maxBytes;
    if (tooMany || tooBig) {
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
    this.set(topic, payloadBytes);
    return true;
  }

  private set(topic: string, payloadBytes: number): void {
    this.total += payloadBytes - (this.bytes.get(topic) ?? 0);
    this.bytes.set(topic, payloadBytes);
    this.report();
  }

  private report(): void {
    this.o.stats.retainedMessages = this.bytes.size;
    this.o.stats.retainedBytes = this.total;
  }
}
