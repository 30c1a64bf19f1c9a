// One serial link: port (kept open by PortKeeper: retry, hot-plug), framing decoder, codec, topic
// template, acknowledged mode (Acknowledger) and downlink (downlink.ts: commands to the device).
// Turns every decoded frame into a Message for deps.onMessage, with backpressure (reading pauses at
// maxInFlight uncommitted frames).
import type { SerialPort } from 'serialport';
import type { Counter, Gauge } from 'prom-client';
import { ERRORS, type GatehouseError, errorMessage } from '../core/errors.js';
import { validateConfig } from '../core/validation.js';
import { clocksOf } from '../core/clock.js';
import type { Message, MessageSource } from '../core/message.js';
import { Acknowledger, resolveAckMode, splitHeader } from './ack.js';
import { createCodec, type Codec, type Decoded } from './codecs/index.js';
import { createFraming, type FrameDecoder, type FrameErrorReason, type Framing } from './framing/index.js';
import { SerialLinkOptionsSchema, type SerialLinkOptions, type SerialLinkOptionsInput } from './options.js';
import { serialMetrics, type SerialMetrics } from './metrics.js';
import { PortKeeper } from './port-keeper.js';
import { MAX_FIELD_SEQ } from './protocol.js';
import { compileTopic, type TopicTemplate } from './topic.js';
import { WriteQueue } from './writer.js';
import { RateLimitedLog } from './rate-log.js';
import { rateLimitedLog, type RateLog } from '../core/rate-log.js';
import { HeldFrameWatch } from './held-frame.js';
import { Downlink } from './downlink.js';

export type { SerialLinkState, SerialLinkStatus, SubscribeFn, SerialLinkDeps, SerialLink } from './link-types.js';
import type { SerialLinkState, SerialLinkStatus, SerialLinkDeps, SerialLink } from './link-types.js';

/** The port's own lines (lost, reopened, a reopen failing) at most once a minute per kind after the first. */
const PORT_LOG_EVERY_MS = 60_000;

class Link implements SerialLink {
  readonly name: string;
  private readonly framing: Framing;
  private readonly codec: Codec;
  private readonly topic: TopicTemplate;
  private readonly ack: Acknowledger;
  private readonly keeper: PortKeeper;
  private readonly source: MessageSource;
  private readonly writer: WriteQueue;
  /** Commands to the device (downlink.ts). */
  private readonly downlink: Downlink;
  private readonly errLog: RateLimitedLog;
  /**
   * The port's losses, reopens and first failed reopens, each kind at once, then at most once a
   * minute (`suppressed`): a USB adapter on a bad cable dropping every few seconds made two or three
   * lines per flap (17 lines in 8 flaps: 'serial port lost' and 'serial link open' each time).
   */
  private readonly portLog: { warn: RateLog; info: RateLog };
  /** Monotonic ms when the port was lost; undefined while open (and before the first open). */
  private lostAt: number | undefined;
  private readonly held: HeldFrameWatch;
  /** Wall time: receivedAt, lastErrorAt, openedAt and lastFrameAt (status). */
  private readonly now: () => number;
  /** Monotonic time: the partial-frame timeout and the error log's rate limit. */
  private readonly mono: () => number;
  private readonly m: {
    up: Gauge<'link'>;
    framesIn: ReturnType<Counter<'link'>['labels']>;
    bytesIn: ReturnType<Counter<'link'>['labels']>;
    framesOut: ReturnType<Counter<'link'>['labels']>;
    bytesOut: ReturnType<Counter<'link'>['labels']>;
    reconnects: ReturnType<Counter<'link'>['labels']>;
    decodeErrors: ReturnType<Counter<'link'>['labels']>;
    all: SerialMetrics;
  };
  private decoder: FrameDecoder;
  private state: SerialLinkState = 'closed';
  private stopped = true;
  /** Monotonic ms of the last bytes read. */
  private lastDataAt = 0;
  private inFlight = 0;
  private paused = false;
  private pausedAt: number | undefined;
  private readonly st = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, frameErrors: 0, decodeErrors: 0, reconnects: 0, pauses: 0 };
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private openedAt: number | undefined;
  private lastFrameAt: number | undefined;

  constructor(
    readonly options: SerialLinkOptions,
    private readonly deps: SerialLinkDeps,
  ) {
    const o = options;
    this.name = o.name;
    const where = `serial.${o.name}`;
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.framing = createFraming(o.framing);
    this.codec = createCodec(o.codec);
    this.topic = compileTopic(o.topic, o.name, `${where}.topic`, (m) => deps.logger.warn({ link: o.name }, m));
    const ackMode = resolveAckMode(o, this.framing);
    this.source = { kind: 'serial', id: o.name };
    const all = serialMetrics(deps.registry);
    const l = { link: o.name };
    this.m = {
      up: all.linkUp,
      framesIn: all.framesIn.labels(l),
      bytesIn: all.bytesIn.labels(l),
      framesOut: all.framesOut.labels(l),
      bytesOut: all.bytesOut.labels(l),
      reconnects: all.reconnects.labels(l),
      decodeErrors: all.decodeErrors.labels(l),
      all,
    };
    all.linkUp.set(l, 0);
    all.paused.set(l, 0);
    this.held = new HeldFrameWatch(o);
    this.errLog = new RateLimitedLog(deps.logger, o.errorLog.max, o.errorLog.intervalMs, { link: o.name }, this.mono);
    this.portLog = {
      warn: rateLimitedLog(deps.logger, 'warn', PORT_LOG_EVERY_MS, this.mono),
      info: rateLimitedLog(deps.logger, 'info', PORT_LOG_EVERY_MS, this.mono),
    };
    // Replies: a committed window of maxInFlight frames being ACKed while the next one is read.
    this.writer = new WriteQueue(
      o.writeQueue,
      where,
      (n) => {
        this.st.bytesOut += n;
        this.st.framesOut++;
        this.m.bytesOut.inc(n);
        this.m.framesOut.inc();
      },
      2 * o.maxInFlight,
    );
    this.ack = new Acknowledger(ackMode, o, o.name, this.framing, this.writer, all.acks, all.duplicates.labels(l));
    const noteError = (msg: string): void => this.noteError(msg);
    const { codec, framing, ack, writer, errLog } = this;
    this.downlink = new Downlink(o, { codec, framing, ack, writer, metrics: all, logger: deps.logger, errLog, subscribe: deps.subscribe, noteError });
    this.decoder = this.framing.createDecoder(this.onFrameError);
    this.keeper = new PortKeeper(o, Math.min(o.reconnect.watchMs, o.frameTimeoutMs), {
      opened: (port) => this.portOpened(port),
      openFailed: (err, attempt) => this.portOpenFailed(err, attempt),
      lost: (err) => this.portLost(err),
      tick: () => this.flushIdle(),
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.downlink.start();
    await this.keeper.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.downlink.stop();
    const released = this.keeper.release();
    this.writer.detach('stopped', 'the gateway stopped the link (a stop, or a reload that removed or changed it): send it again once the link runs');
    this.setState('closed');
    await released;
  }

  status(): SerialLinkStatus {
    return {
      name: this.name,
      path: this.options.path,
      state: this.state,
      ...this.st,
      inFlight: this.inFlight,
      maxInFlight: this.options.maxInFlight,
      paused: this.paused,
      ...(this.pausedAt !== undefined ? { pausedAt: this.pausedAt } : {}),
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      openedAt: this.openedAt,
      lastFrameAt: this.lastFrameAt,
    };
  }

  private setState(s: SerialLinkState): void {
    this.state = s;
    this.m.up.set({ link: this.name }, s === 'open' ? 1 : 0);
  }

  /** Reading paused by backpressure, or not: the flag the reader checks, the status and the metrics. */
  private setPaused(on: boolean): void {
    if (on && !this.paused) {
      this.m.all.pauses.inc({ link: this.name });
      this.st.pauses++;
    }
    this.paused = on;
    this.pausedAt = on ? this.now() : undefined;
    this.m.all.paused.set({ link: this.name }, on ? 1 : 0);
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = this.now();
  }

  private portOpened(port: SerialPort): void {
    const o = this.options;
    this.openedAt = this.now();
    this.lastDataAt = this.mono();
    this.decoder = this.framing.createDecoder(this.onFrameError);
    this.held.reset();
    this.setPaused(false);
    port.on('data', this.onData);
    this.writer.attach(port);
    this.setState('open');
    const lostAt = this.lostAt;
    this.lostAt = undefined;
    const fields = { link: o.name, path: o.path, baudRate: o.baudRate };
    // The first open at once; a reopen after a loss says how long the port was away (bounded: a flapping port).
    if (lostAt === undefined) this.deps.logger.info(fields, 'serial link open');
    else this.portLog.info('open', { ...fields, downMs: Math.round(this.mono() - lostAt), reconnects: this.st.reconnects }, 'serial link open');
  }

  private portOpenFailed(err: GatehouseError, attempt: number): void {
    const o = this.options;
    const msg = errorMessage(err);
    this.noteError(msg);
    // The first failure in a row is worth a warning (once a minute per error for a port that
    // keeps coming back: one run of failures per loss); the retries after it only at debug level.
    if (attempt === 0) this.portLog.warn(`open:${msg}`, { link: o.name, path: o.path }, msg);
    else this.deps.logger.debug({ link: o.name, path: o.path }, msg);
    this.setState('retrying');
  }

  private portLost(err: Error): void {
    // A frame cut by the loss is gone with the cable: counted (truncated), not dropped unseen when
    // the next open starts a fresh decoder. The crc decoder may still find whole frames in it.
    if (this.decoder.buffered > 0) for (const f of this.decoder.flush()) this.onFrame(f);
    this.noteError(`${this.options.path}: ${err.message}`);
    this.writer.detach('lost its port');
    this.st.reconnects++;
    this.m.reconnects.inc();
    this.lostAt = this.mono();
    this.portLog.warn('lost', { link: this.name, path: this.options.path, err: err.message, reconnects: this.st.reconnects }, 'serial port lost, retrying');
    this.setState('retrying');
  }

  /**
   * A partial frame idle for frameTimeoutMs is handed to the decoder's flush (counted as truncated).
   * Not while reading is paused (backpressure): the rest of the frame waits unread in the port, the
   * gap is ours, not the device's.
   */
  private flushIdle(): void {
    if (this.paused) return;
    if (this.decoder.buffered > 0 && this.mono() - this.lastDataAt >= this.options.frameTimeoutMs) {
      for (const f of this.decoder.flush()) this.onFrame(f);
    }
    this.checkHeld();
  }

  /** A held crc frame that can't still be arriving at the baud rate is noise: dropped (held-frame.ts). */
  private checkHeld(): void {
    if (this.paused) return this.held.reset();
    if (this.held.overdue(this.decoder.held?.(), this.mono())) for (const f of this.decoder.flush()) this.onFrame(f);
  }

  // ---- uplink ----------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    this.lastDataAt = this.mono();
    this.st.bytesIn += chunk.length;
    this.m.bytesIn.inc(chunk.length);
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      // Decoders don't throw by design; if one does, it's a bug: log and reset, never crash.
      this.deps.logger.error({ link: this.name, err: errorMessage(err) }, 'serial decoder failed (bug), resetting');
      this.decoder = this.framing.createDecoder(this.onFrameError);
      this.held.reset();
      return;
    }
    for (let i = 0; i < frames.length; i++) this.onFrame(frames[i]!);
    this.checkHeld();
  };

  private readonly onFrameError = (reason: FrameErrorReason, detail: string): void => {
    this.st.frameErrors++;
    this.m.all.frameErrors.inc({ link: this.name, reason });
    // Decoders never throw (a broken frame is skipped, not fatal): the error is reported, not thrown.
    this.noteError(errorMessage(ERRORS.GH_FRAME_INVALID({ reason, detail }, { where: `serial.${this.name}` })));
    this.errLog.warn({ code: 'GH_FRAME_INVALID', reason, detail }, 'broken serial frame skipped');
  };

  /**
   * A frame that is not stored: counted once as a decode error (never also as decoded), and, when
   * `answer` is a sequence number, ACKed so the device drops it instead of resending it forever.
   */
  private decodeError(detail: string, answer = -1): void {
    this.st.decodeErrors++;
    this.m.decodeErrors.inc();
    this.noteError(`decode: ${detail}`);
    this.errLog.warn(answer >= 0 ? { code: 'GH_CODEC_INVALID', detail, seq: answer } : { code: 'GH_CODEC_INVALID', detail }, 'serial frame did not decode');
    if (answer >= 0) this.ack.reply(true, answer);
  }

  private onFrame(frame: Buffer): void {
    const ack = this.ack;
    let seq = -1;
    let body = frame;
    if (ack.mode === 'header') {
      const h = splitHeader(frame);
      if (!h.ok) return this.decodeError(h.error, h.answer);
      seq = h.seq;
      body = h.body;
    }
    let obj: Decoded;
    try {
      obj = this.codec.decode(body);
    } catch (err) {
      // A frame that can never decode is acknowledged (header mode: its SEQ is readable), so it
      // can't block the firmware's buffer. In field mode the SEQ was inside the payload: no answer.
      // The log line names the code in its own field: the detail does not say it again.
      return this.decodeError(errorMessage(err).replace(/^GH_CODEC_INVALID: /, ''), seq);
    }
    if (ack.mode === 'field') {
      seq = ack.fieldSeq(obj);
      // No sequence number to answer with: dropped unanswered (docs/firmware-protocol.md, field mode).
      if (seq < 0)
        return this.decodeError(`acknowledged frame without a valid '${ack.field}' field (an integer 0..${MAX_FIELD_SEQ}): ${fieldText(obj[ack.field])}`);
    }
    if (seq >= 0 && ack.duplicate(seq)) return;
    const msg: Message = {
      topic: this.topic.render(obj),
      payload: this.codec.toJson(body, obj),
      qos: 1,
      source: this.source,
      receivedAt: this.now(),
    };
    if (seq >= 0) msg.traceId = `${this.name}:${seq}`;
    this.st.framesIn++;
    this.lastFrameAt = msg.receivedAt;
    this.m.framesIn.inc();
    let r: Promise<void> | undefined;
    try {
      r = this.deps.onMessage(msg);
    } catch (err) {
      r = Promise.reject(err);
    }
    if (!r) {
      if (seq >= 0) ack.committed(seq);
      return;
    }
    this.inFlight++;
    const port = this.keeper.port;
    if (this.inFlight >= this.options.maxInFlight && !this.paused && port) {
      this.setPaused(true);
      port.pause();
    }
    if (seq < 0) return void r.then(this.settled, this.failedNoAck);
    ack.handedOn(seq);
    r.then(
      () => {
        this.settled();
        ack.committed(seq);
      },
      (err: unknown) => {
        this.failedNoAck(err);
        ack.failed(seq);
      },
    );
  }

  private readonly settled = (): void => {
    this.inFlight--;
    if (this.paused && this.inFlight <= this.options.maxInFlight >> 1) {
      this.setPaused(false);
      // The idle-frame clock restarts: the pause was no gap in what the device sent.
      this.lastDataAt = this.mono();
      this.keeper.port?.resume();
    }
  };

  private readonly failedNoAck = (err: unknown): void => {
    this.settled();
    this.noteError(`handing on failed: ${errorMessage(err)}`);
    this.errLog.warn({ err: errorMessage(err) }, 'serial frame was not committed');
  };

  // ---- downlink (downlink.ts) -----------------------------------------------------------

  write(payload: Buffer | Decoded): Promise<void> {
    return this.downlink.write(payload);
  }

  writeCommand(payload: Buffer): Promise<void> {
    return this.downlink.writeCommand(payload);
  }
}

/** A sequence field's value for a log line: its JSON text, cut short (it came from the wire). */
function fieldText(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

export function createSerialLink(options: SerialLinkOptionsInput | SerialLinkOptions, deps: SerialLinkDeps): SerialLink {
  const at = `serial.${(options as { name?: string }).name ?? '?'}`;
  const parsed = validateConfig(
    SerialLinkOptionsSchema,
    options,
    `serial link options (${at})`,
    'GH_CONFIG_INVALID',
    'see docs/firmware-bridge.md for the link options',
    { where: at, pathPrefix: at },
  );
  return new Link(parsed, deps);
}
