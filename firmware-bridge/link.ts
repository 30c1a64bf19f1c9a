// One serial link: port (with hot-plug retry), framing decoder, codec, topic template,
// acknowledged mode and downlink. Turns every decoded frame into a Message for deps.onMessage.
import { stat } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import type { Counter, Gauge } from 'prom-client';
import { GatehouseError, errorMessage } from '../gateway/errors.js';
import type { Message, MessageSource } from '../gateway/message.js';
import { createCodec, type Codec, type Decoded } from './codecs/index.js';
import { createFraming, type FrameDecoder, type FrameErrorReason, type Framing } from './framing/index.js';
import { SerialLinkOptionsSchema, type SerialLinkOptions, type SerialLinkOptionsInput } from './options.js';
import { serialMetrics, type SerialMetrics } from './metrics.js';
import { HEADER_BYTES, KIND_ACK, KIND_CMD, KIND_DATA, KIND_NAK, header, textReply } from './protocol.js';
import { compileTopic, type TopicTemplate } from './topic.js';
import { WriteQueue } from './writer.js';
import { RateLimitedLog } from './rate-log.js';

export type { SerialLinkState, SerialLinkStatus, SubscribeFn, SerialLinkDeps, SerialLink } from './link-types.js';
import type { SerialLinkState, SerialLinkStatus, SerialLinkDeps, SerialLink } from './link-types.js';

type AckMode = 'off' | 'header' | 'field';

/** serialport's Linux binding exposes its fd poller; polling for 'disconnect' makes pty hang-ups surface. */
interface PollerHolder {
  poller?: EventEmitter;
}

class Link implements SerialLink {
  readonly name: string;
  private readonly framing: Framing;
  private readonly codec: Codec;
  private readonly topic: TopicTemplate;
  private readonly ackMode: AckMode;
  private readonly source: MessageSource;
  private readonly writer: WriteQueue;
  private readonly errLog: RateLimitedLog;
  private readonly now: () => number;
  private readonly m: {
    up: Gauge<'link'>;
    framesIn: ReturnType<Counter<'link'>['labels']>;
    bytesIn: ReturnType<Counter<'link'>['labels']>;
    framesOut: ReturnType<Counter<'link'>['labels']>;
    bytesOut: ReturnType<Counter<'link'>['labels']>;
    reconnects: ReturnType<Counter<'link'>['labels']>;
    decodeErrors: ReturnType<Counter<'link'>['labels']>;
    duplicates: ReturnType<Counter<'link'>['labels']>;
    all: SerialMetrics;
  };
  private decoder: FrameDecoder;
  private port: SerialPort | null = null;
  private state: SerialLinkState = 'closed';
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private watching = false;
  private rdev = -1;
  private lastDataAt = 0;
  private inFlight = 0;
  private paused = false;
  private cmdSeq = 0;
  private unsubscribe: (() => void) | null = null;
  private readonly dedup: { set: Set<number>; ring: number[]; pos: number } | null;
  private readonly st = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, frameErrors: 0, decodeErrors: 0, reconnects: 0 };
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private openedAt: number | undefined;

  constructor(readonly options: SerialLinkOptions, private readonly deps: SerialLinkDeps) {
    const o = options;
    this.name = o.name;
    const where = `serial.${o.name}`;
    this.now = deps.now ?? Date.now;
    this.framing = createFraming(o.framing);
    this.codec = createCodec(o.codec);
    this.topic = compileTopic(o.topic, o.name, `${where}.topic`);
    if (o.codec.type === 'struct' && !this.framing.binarySafe) {
      throw new GatehouseError('GH_CONFIG_INVALID', 'the struct codec needs a binary-safe framing', { where: `${where}.framing`, hint: 'use framing type cobs, slip or crc' });
    }
    if (!o.ack.enabled) this.ackMode = 'off';
    else if (o.ack.mode === 'auto') this.ackMode = this.framing.binarySafe ? 'header' : 'field';
    else this.ackMode = o.ack.mode;
    if (this.ackMode === 'header' && !this.framing.binarySafe) {
      throw new GatehouseError('GH_CONFIG_INVALID', "ack mode 'header' needs a binary-safe framing", { where: `${where}.ack.mode`, hint: "use ack.mode 'field' with line framing" });
    }
    this.dedup = o.ack.enabled && o.ack.dedupWindow > 0 ? { set: new Set(), ring: new Array<number>(o.ack.dedupWindow).fill(-1), pos: 0 } : null;
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
      duplicates: all.duplicates.labels(l),
      all,
    };
    all.linkUp.set(l, 0);
    this.errLog = new RateLimitedLog(deps.logger, o.errorLog.max, o.errorLog.intervalMs, { link: o.name }, this.now);
    this.writer = new WriteQueue(o.writeQueue, where, (n) => {
      this.st.bytesOut += n;
      this.st.framesOut++;
      this.m.bytesOut.inc(n);
      this.m.framesOut.inc();
    });
    this.decoder = this.framing.createDecoder(this.onFrameError);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    const o = this.options;
    if (o.commandTopic && this.deps.subscribe) {
      const filter = compileTopic(o.commandTopic, o.name, `serial.${o.name}.commandTopic`).filter();
      this.unsubscribe = this.deps.subscribe(filter, (topic, payload) => {
        this.writeCommand(payload).catch((err) => this.errLog.warn({ err: errorMessage(err), topic }, 'serial downlink command not written'));
      });
    }
    this.watchTimer = setInterval(this.watch, Math.min(o.reconnect.watchMs, o.frameTimeoutMs));
    this.watchTimer.unref();
    await new Promise<void>((resolve) => this.openPort(resolve));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.unsubscribe) {
      try {
        this.unsubscribe();
      } catch {
        // unsubscribing from a stopped broker is harmless
      }
      this.unsubscribe = null;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.retryTimer = this.watchTimer = null;
    const port = this.port;
    this.port = null;
    this.writer.detach('stopped');
    this.setState('closed');
    if (port) await closeQuietly(port);
  }

  status(): SerialLinkStatus {
    return {
      name: this.name,
      path: this.options.path,
      state: this.state,
      ...this.st,
      inFlight: this.inFlight,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      openedAt: this.openedAt,
    };
  }

  private setState(s: SerialLinkState): void {
    this.state = s;
    this.m.up.set({ link: this.name }, s === 'open' ? 1 : 0);
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = this.now();
  }

  private openPort(done?: () => void): void {
    if (this.stopped) {
      done?.();
      return;
    }
    const o = this.options;
    const port = new SerialPort({ path: o.path, baudRate: o.baudRate, dataBits: o.dataBits, parity: o.parity, stopBits: o.stopBits, autoOpen: false });
    this.port = port;
    // Listeners are per port object; events from a replaced port are ignored.
    port.on('error', (err: Error) => this.lost(port, err));
    port.on('close', (err: Error | null) => this.lost(port, err ?? new Error('port closed')));
    port.open((err) => {
      if (this.port !== port) {
        done?.();
        return;
      }
      if (err) {
        this.port = null;
        port.removeAllListeners();
        port.on('error', () => undefined);
        const msg = errorMessage(new GatehouseError('GH_SERIAL_OPEN', `cannot open ${o.path}: ${err.message}`, { where: `serial.${o.name}.path`, hint: 'check the device is plugged in and the user is in the dialout group' }));
        this.noteError(msg);
        if (this.attempt === 0) this.deps.logger.warn({ link: o.name, path: o.path }, msg);
        else this.deps.logger.debug({ link: o.name, path: o.path }, msg);
        this.setState('retrying');
        this.scheduleRetry();
        done?.();
        return;
      }
      this.attempt = 0;
      this.openedAt = this.now();
      this.lastDataAt = this.now();
      this.decoder = this.framing.createDecoder(this.onFrameError);
      this.paused = false;
      port.on('data', this.onData);
      const poller = (port.port as PollerHolder | undefined)?.poller;
      if (poller && typeof poller.once === 'function') poller.once('disconnect', () => undefined);
      this.rdev = -1;
      stat(o.path).then(
        (s) => {
          if (this.port === port) this.rdev = s.rdev;
        },
        () => undefined,
      );
      this.writer.attach(port);
      this.setState('open');
      this.deps.logger.info({ link: o.name, path: o.path, baudRate: o.baudRate }, 'serial link open');
      done?.();
    });
  }

  /** The port failed, closed or vanished: drop it and retry with backoff. Never throws. */
  private lost(port: SerialPort, err: Error): void {
    if (this.port !== port || this.stopped) return;
    this.port = null;
    this.noteError(`${this.options.path}: ${err.message}`);
    this.deps.logger.warn({ link: this.name, path: this.options.path, err: err.message }, 'serial port lost, retrying');
    port.removeAllListeners('data');
    port.on('error', () => undefined);
    void closeQuietly(port);
    this.writer.detach('lost its port');
    this.st.reconnects++;
    this.m.reconnects.inc();
    this.setState('retrying');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const r = this.options.reconnect;
    const base = Math.min(r.maxMs, r.initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Equal jitter: half fixed, half random, so many links don't retry in lockstep.
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.openPort();
    }, delay);
    this.retryTimer.unref();
  }

  /** Periodic: device path gone or replaced (USB unplug) and idle partial frames. */
  private readonly watch = (): void => {
    const port = this.port;
    if (!port || this.state !== 'open') return;
    if (this.decoder.buffered > 0 && this.now() - this.lastDataAt >= this.options.frameTimeoutMs) {
      for (const f of this.decoder.flush()) this.onFrame(f);
    }
    if (this.watching) return;
    this.watching = true;
    stat(this.options.path).then(
      (s) => {
        this.watching = false;
        if (this.rdev >= 0 && s.rdev !== this.rdev) this.lost(port, new Error('device path now points to another device'));
      },
      (err: Error) => {
        this.watching = false;
        this.lost(port, err);
      },
    );
  };

  // ---- uplink ----------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    this.lastDataAt = this.now();
    this.st.bytesIn += chunk.length;
    this.m.bytesIn.inc(chunk.length);
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      // Decoders don't throw by design; if one does, it's a bug: log and reset, never crash.
      this.deps.logger.error({ link: this.name, err: errorMessage(err) }, 'serial decoder failed (bug), resetting');
      this.decoder = this.framing.createDecoder(this.onFrameError);
      return;
    }
    for (let i = 0; i < frames.length; i++) this.onFrame(frames[i]!);
  };

  private readonly onFrameError = (reason: FrameErrorReason, detail: string): void => {
    this.st.frameErrors++;
    this.m.all.frameErrors.inc({ link: this.name, reason });
    this.noteError(`frame ${reason}: ${detail}`);
    this.errLog.warn({ reason, detail }, 'broken serial frame skipped');
  };

  private decodeError(detail: string): void {
    this.st.decodeErrors++;
    this.m.decodeErrors.inc();
    this.noteError(`decode: ${detail}`);
    this.errLog.warn({ detail }, 'serial frame did not decode');
  }

  private onFrame(frame: Buffer): void {
    let seq = -1;
    let body = frame;
    if (this.ackMode === 'header') {
      if (frame.length < HEADER_BYTES || frame[0] !== KIND_DATA) {
        this.decodeError(`frame without a DATA header (kind 0x${(frame[0] ?? 0).toString(16)})`);
        return;
      }
      seq = frame.readUInt16BE(1);
      body = frame.subarray(HEADER_BYTES);
    }
    let obj: Decoded;
    try {
      obj = this.codec.decode(body);
    } catch (err) {
      this.decodeError(errorMessage(err));
      // A frame that can never decode is acknowledged, so it can't block the firmware's buffer.
      if (seq >= 0) this.reply(true, seq);
      return;
    }
    if (this.ackMode === 'field') {
      const s = obj[this.options.ack.field];
      if (typeof s === 'number' && Number.isInteger(s) && s >= 0) seq = s;
      else this.decodeError(`acknowledged frame without an integer '${this.options.ack.field}' field`);
    }
    if (seq >= 0 && this.dedup && this.dedup.set.has(seq)) {
      this.m.duplicates.inc();
      this.reply(true, seq);
      return;
    }
    const msg: Message = {
      topic: this.topic.render(obj),
      payload: this.codec.toJson(body, obj),
      qos: 1,
      source: this.source,
      receivedAt: this.now(),
    };
    if (seq >= 0) msg.traceId = `${this.name}:${seq}`;
    this.st.framesIn++;
    this.m.framesIn.inc();
    let r: Promise<void> | undefined;
    try {
      r = this.deps.onMessage(msg);
    } catch (err) {
      r = Promise.reject(err);
    }
    if (!r) {
      if (seq >= 0) this.committed(seq);
      return;
    }
    this.inFlight++;
    if (this.inFlight >= this.options.maxInFlight && !this.paused && this.port) {
      this.paused = true;
      this.port.pause();
    }
    if (seq < 0) r.then(this.settled, this.failedNoAck);
    else
      r.then(
        () => {
          this.settled();
          this.committed(seq);
        },
        (err: unknown) => {
          this.failedNoAck(err);
          this.reply(false, seq);
        },
      );
  }

  private readonly settled = (): void => {
    this.inFlight--;
    if (this.paused && this.inFlight <= this.options.maxInFlight >> 1) {
      this.paused = false;
      this.port?.resume();
    }
  };

  private readonly failedNoAck = (err: unknown): void => {
    this.settled();
    this.noteError(`handing on failed: ${errorMessage(err)}`);
    this.errLog.warn({ err: errorMessage(err) }, 'serial frame was not committed');
  };

  private committed(seq: number): void {
    const d = this.dedup;
    if (d) {
      const old = d.ring[d.pos]!;
      if (old >= 0) d.set.delete(old);
      d.ring[d.pos] = seq;
      d.set.add(seq);
      d.pos = (d.pos + 1) % d.ring.length;
    }
    this.reply(true, seq);
  }

  private reply(ok: boolean, seq: number): void {
    const payload = this.ackMode === 'header' ? header(ok ? KIND_ACK : KIND_NAK, seq) : textReply(ok, seq);
    const kind = ok ? 'ack' : 'nak';
    this.writer.write(this.framing.encode(payload)).then(
      () => this.m.all.acks.inc({ link: this.name, kind }),
      // Lost ACKs are fine: the firmware resends and the frame is handed on again (at-least-once).
      () => this.m.all.acks.inc({ link: this.name, kind: 'dropped' }),
    );
  }

  // ---- downlink --------------------------------------------------------------------------

  write(payload: Buffer | Decoded): Promise<void> {
    let body: Buffer;
    try {
      body = Buffer.isBuffer(payload) ? payload : this.codec.encode(payload);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.ackMode === 'header') {
      this.cmdSeq = (this.cmdSeq + 1) & 0xffff;
      body = header(KIND_CMD, this.cmdSeq, body);
    }
    return this.writer.write(this.framing.encode(body));
  }

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

async function closeQuietly(port: SerialPort): Promise<void> {
  if (!port.isOpen) return;
  await new Promise<void>((resolve) => {
    try {
      port.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

export function createSerialLink(options: SerialLinkOptionsInput | SerialLinkOptions, deps: SerialLinkDeps): SerialLink {
  const parsed = SerialLinkOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatehouseError('GH_CONFIG_INVALID', `serial link options: ${issue?.message ?? 'invalid'}`, {
      where: `serial.${(options as { name?: string }).name ?? '?'}.${issue?.path.join('.') ?? ''}`,
      hint: 'see docs/firmware-bridge.md for the link options',
      details: parsed.error.issues,
    });
  }
  return new Link(parsed.data, deps);
}
