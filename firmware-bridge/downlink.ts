// A serial link's downlink: commands to the device from the command topic (subscribed while the
// link runs), rules or the API; a JSON object is encoded with the link's codec, anything else
// framed raw; with acknowledged mode the command is marked as one (ack.ts); then queued on the
// port's writer. A command that is not written is lost (no retry), counted by reason and noted as
// the link's last error. Apart from link.ts (the port, the uplink frames and their backpressure).
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import type { Acknowledger } from './ack.js';
import type { Codec, Decoded } from './codecs/index.js';
import type { Framing } from './framing/index.js';
import type { SubscribeFn } from './link-types.js';
import type { SerialMetrics } from './metrics.js';
import type { SerialLinkOptions } from './options.js';
import type { RateLimitedLog } from './rate-log.js';
import { compileTopic } from './topic.js';
import type { WriteQueue } from './writer.js';

/** What the downlink uses of its link: the link's parts, its logs, and where its last error goes. */
export interface DownlinkParts {
  codec: Codec;
  framing: Framing;
  ack: Acknowledger;
  writer: WriteQueue;
  metrics: SerialMetrics;
  logger: Logger;
  errLog: RateLimitedLog;
  subscribe: SubscribeFn | undefined;
  noteError(msg: string): void;
}

export class Downlink {
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly o: SerialLinkOptions,
    private readonly p: DownlinkParts,
  ) {}

  /** Subscribe to the link's commandTopic, if it has one and a broker to subscribe to. */
  start(): void {
    const o = this.o;
    if (o.commandTopic && this.p.subscribe) {
      const filter = compileTopic(o.commandTopic, o.name, `serial.${o.name}.commandTopic`, (m) => this.p.logger.warn({ link: o.name }, m)).filter();
      this.unsubscribe = this.p.subscribe(filter, (topic, payload) => {
        this.writeCommand(payload).catch((err) => this.p.errLog.warn({ err: errorMessage(err), topic }, 'serial downlink command not written'));
      });
    }
  }

  stop(): void {
    if (this.unsubscribe) {
      try {
        this.unsubscribe();
      } catch {
        // unsubscribing from a stopped broker is harmless
      }
      this.unsubscribe = null;
    }
  }

  /** SerialLink.write: a Buffer is codec bytes, framed as-is; an object is encoded with the codec, then framed. */
  write(payload: Buffer | Decoded): Promise<void> {
    let body: Buffer;
    try {
      body = Buffer.isBuffer(payload) ? payload : this.p.codec.encode(payload);
    } catch (err) {
      return Promise.reject(this.commandFailed(err));
    }
    return this.p.writer.write(this.p.framing.encode(this.p.ack.command(body))).catch((err: unknown) => {
      throw this.commandFailed(err);
    });
  }

  /**
   * A downlink command that was not written is lost (no retry: a stale command could do harm
   * later); counted by reason and shown in lastError, whoever sent it (command topic, rule, API).
   */
  private commandFailed(err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code;
    const reason =
      code === 'GH_SERIAL_NOT_OPEN' ? 'not-open' : code === 'GH_SERIAL_QUEUE_FULL' ? 'queue-full' : code === 'GH_CODEC_INVALID' ? 'codec' : 'write';
    this.p.metrics.commandsFailed.inc({ link: this.o.name, reason });
    this.p.noteError(`command not written: ${errorMessage(err)}`);
    return err;
  }

  /** SerialLink.writeCommand: a JSON object is codec-encoded, anything else framed raw. */
  writeCommand(payload: Buffer): Promise<void> {
    const c = payload[0];
    // Only an object can be codec-encoded; '{' first (after optional whitespace) is a cheap test.
    if (c === 0x7b || c === 0x20 || c === 0x0a) {
      try {
        const v: unknown = JSON.parse(payload.toString('utf8'));
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) return this.write(v as Decoded);
      } catch {
        // not JSON: framed raw below
      }
    }
    return this.write(payload);
  }
}
