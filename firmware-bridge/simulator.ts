// A simulated device on a serial path (demos, tests, benchmarks). Emits readings at a rate with a
// chosen framing and codec; in acknowledged mode keeps a firmware-like retransmit buffer (frames
// resent until ACKed, so it survives the gateway restarting); can inject garbage and broken
// frames; hands downlink commands it receives to onCommand. Its command-line face,
// `gatehouse simulate serial`, is gateway/cli/simulate-serial.ts.
import type { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { hangUpAware } from '../core/serial-binding.js';
import { createCodec, type Codec, type Decoded } from './codecs/index.js';
import { createFraming, type FrameDecoder, type Framing } from './framing/index.js';
import type { CodecOptions, FramingOptions, SerialLinkOptionsInput, StructField } from './options.js';
import { HEADER_BYTES, KIND_ACK, KIND_CMD, KIND_DATA, KIND_NAK, header, parseTextReply } from './protocol.js';

export type SimFraming = 'line' | 'cobs' | 'slip' | 'crc';
export type SimCodec = 'json' | 'csv' | 'kv' | 'struct';

export const SIM_COLUMNS = ['deviceId', 'seq', 'temperature', 'humidity'];
export const SIM_STRUCT_FIELDS: StructField[] = [
  { name: 'seq', type: 'u32', endian: 'le' },
  { name: 'temperature', type: 'i16', endian: 'le', scale: 0.01 },
  { name: 'humidity', type: 'u16', endian: 'be', scale: 0.01 },
];

export interface SimulatorOptions {
  path: string;
  /** Readings per second. */
  rate: number;
  framing: SimFraming;
  codec: SimCodec;
  ack?: boolean;
  /** Probability (0..1) per reading of also sending a garbage or broken frame. */
  garbage?: number;
  /** Stop generating after this many readings (done resolves once all are sent / ACKed). */
  count?: number;
  ackTimeoutMs?: number;
  /** Retransmit buffer size (unacked frames); generation waits while it is full. */
  bufferSize?: number;
  deviceId?: string;
  baudRate?: number;
  seed?: number;
  /** Probability (0..1) of ignoring a received ACK, as if it was lost on the wire (tests). */
  dropAcks?: number;
  onCommand?: (cmd: Decoded | Buffer) => void;
  log?: (line: string) => void;
}

export interface SimulatorStats {
  generated: number;
  sent: number;
  resent: number;
  acked: number;
  naks: number;
  garbage: number;
  commands: number;
  unacked: number;
  reopens: number;
}

export interface SimulatedDevice {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): SimulatorStats;
  /** Ack mode: the sequence numbers sent and not acknowledged yet (low 16 bits with a header). */
  unackedSeqs(): number[];
  /** Resolves once `count` readings were generated and (ack mode) all acknowledged. */
  readonly done: Promise<void>;
}

/** Link options matching what the simulator sends (used by tests, bench and docs). */
export function simulatorLinkOptions(name: string, path: string, framing: SimFraming, codec: SimCodec, ack = false): SerialLinkOptionsInput {
  const f: FramingOptions = framing === 'line' ? { type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 4096 } : { type: framing, maxFrameBytes: 4096 };
  let c: CodecOptions;
  if (codec === 'csv') c = { type: 'csv', columns: SIM_COLUMNS, separator: ',', numbers: true };
  else if (codec === 'kv') c = { type: 'kv', pairSeparators: ' ,;\t', kvSeparator: '=', numbers: true };
  else if (codec === 'struct') c = { type: 'struct', fields: SIM_STRUCT_FIELDS, allowTrailing: false };
  else c = { type: 'json' };
  return {
    name,
    path,
    framing: f,
    codec: c,
    topic: codec === 'struct' ? 'serial/${link}/telemetry' : 'devices/${deviceId}/telemetry',
    ack: { enabled: ack, mode: 'auto', field: 'seq', dedupWindow: 0 },
  };
}

/** Deterministic reading number `seq` of a device. */
export function simReading(deviceId: string, seq: number, codec: SimCodec): Decoded {
  const temperature = 20 + (seq % 100) / 10;
  const humidity = 40 + (seq % 50) / 5;
  return codec === 'struct' ? { seq, temperature, humidity } : { deviceId, seq, temperature, humidity };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PollerHolder {
  poller?: EventEmitter;
}

class Device implements SimulatedDevice {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly framing: Framing;
  private readonly codec: Codec;
  private readonly header: boolean;
  private readonly rnd: () => number;
  private decoder: FrameDecoder;
  private port: SerialPort | null = null;
  private stopped = true;
  private blocked = false;
  private t0 = 0;
  private tick: NodeJS.Timeout | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private readonly unacked = new Map<number, { frame: Buffer; sentAt: number }>();
  private readonly s: SimulatorStats = { generated: 0, sent: 0, resent: 0, acked: 0, naks: 0, garbage: 0, commands: 0, unacked: 0, reopens: 0 };
  private lastResendScan = -Infinity;
  /**
   * Writes handed to the open port and not yet called back. Replaced when the port is lost:
   * serialport never calls back the writes buffered behind the one at its binding, and a count
   * kept across the loss never came back to 0 (a --count run without ack waited for ever).
   */
  private writes = { pending: 0 };
  /** The last open failed (its message was logged; the retries after it are not). */
  private openFailing = false;

  constructor(private readonly o: SimulatorOptions) {
    const f: FramingOptions =
      o.framing === 'line' ? { type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 4096 } : { type: o.framing, maxFrameBytes: 4096 };
    this.framing = createFraming(f);
    const lo = simulatorLinkOptions('sim', o.path, o.framing, o.codec);
    this.codec = createCodec(lo.codec as CodecOptions);
    this.header = !!o.ack && this.framing.binarySafe;
    this.rnd = mulberry32(o.seed ?? 1);
    this.decoder = this.framing.createDecoder(() => undefined);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  unackedSeqs(): number[] {
    return [...this.unacked.keys()];
  }

  stats(): SimulatorStats {
    return { ...this.s, unacked: this.unacked.size };
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.t0 = performance.now(); // pacing and resends are durations: the monotonic clock
    await new Promise<void>((resolve) => this.open(resolve));
    if (this.stopped) return; // stopped while the port opened: no generator left running
    const tickMs = Math.max(5, Math.min(100, Math.floor(1000 / this.o.rate)));
    this.tick = setInterval(() => this.onTick(), tickMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const p = this.port;
    this.port = null;
    if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
  }

  private open(done?: () => void): void {
    if (this.stopped) return done?.();
    const port = new SerialPort(hangUpAware({ path: this.o.path, baudRate: this.o.baudRate ?? 115200, autoOpen: false }));
    const lost = (): void => {
      if (this.port !== port) return;
      this.port = null;
      this.blocked = false;
      // Without ack, what the lost port did not write is lost (as on a real wire): not waited for.
      this.writes = { pending: 0 };
      port.removeAllListeners('data');
      if (port.isOpen) port.close(() => undefined);
      this.reopenLater();
      this.checkDone();
    };
    port.on('error', lost);
    port.on('close', lost);
    port.open((err) => {
      if (err) {
        // Once per failure streak: the retry runs every 200 ms.
        if (!this.openFailing) this.o.log?.(`cannot open ${this.o.path}: ${err.message}; retrying`);
        this.openFailing = true;
        this.reopenLater();
        return done?.();
      }
      if (this.stopped) {
        // Stopped while it opened: closed, or its fd kept the port (and its lock) for good.
        port.removeAllListeners();
        port.on('error', () => undefined);
        port.close(() => undefined);
        return done?.();
      }
      if (this.openFailing) this.o.log?.(`opened ${this.o.path}`);
      this.openFailing = false;
      this.port = port;
      this.decoder = this.framing.createDecoder(() => undefined);
      (port.port as PollerHolder | undefined)?.poller?.once('disconnect', () => undefined);
      port.on('data', (chunk: Buffer) => {
        for (const f of this.decoder.push(chunk)) this.onFrame(f);
      });
      done?.();
    });
  }

  private reopenLater(): void {
    if (this.stopped || this.reopenTimer) return;
    this.s.reopens++;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      this.open();
    }, 200);
  }

  private onFrame(frame: Buffer): void {
    if (this.header) {
      const kind = frame[0];
      if (frame.length < HEADER_BYTES) return;
      const seq = frame.readUInt16BE(1);
      if (kind === KIND_ACK) this.acked(seq);
      else if (kind === KIND_NAK) this.nak(seq);
      else if (kind === KIND_CMD) this.command(frame.subarray(HEADER_BYTES));
      return;
    }
    if (this.o.ack) {
      const r = parseTextReply(frame);
      if (r) {
        if (r.ok) this.acked(r.seq);
        else this.nak(r.seq);
        return;
      }
    }
    this.command(frame);
  }

  private acked(seq: number): void {
    if (this.o.dropAcks && this.rnd() < this.o.dropAcks) return;
    if (this.unacked.delete(seq)) this.s.acked++;
    this.checkDone();
  }

  private nak(seq: number): void {
    this.s.naks++;
    const e = this.unacked.get(seq);
    if (e) {
      e.sentAt = performance.now();
      this.s.resent++;
      this.send(e.frame);
    }
  }

  private command(body: Buffer): void {
    this.s.commands++;
    let cmd: Decoded | Buffer;
    try {
      cmd = this.codec.decode(body);
    } catch {
      cmd = Buffer.from(body);
    }
    this.o.onCommand?.(cmd);
  }

  private send(frame: Buffer): void {
    const port = this.port;
    if (!port) return;
    const writes = this.writes;
    writes.pending++;
    const ok = port.write(frame, () => {
      writes.pending--;
      this.checkDone();
    });
    if (!ok && !this.blocked) {
      this.blocked = true;
      port.once('drain', () => {
        this.blocked = false;
      });
    }
  }

  private checkDone(): void {
    const count = this.o.count;
    if (count === undefined || this.s.generated < count) return;
    if (this.o.ack ? this.unacked.size === 0 : this.writes.pending === 0) this.resolveDone();
  }

  private garbageFrame(valid: Buffer): Buffer {
    const r = this.rnd;
    const n = 1 + Math.floor(r() * 24);
    const junk = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) junk[i] = 33 + Math.floor(r() * 90); // printable, no delimiter bytes
    switch (this.o.framing) {
      case 'line':
        return Buffer.concat([junk, Buffer.from('\n')]);
      case 'cobs':
      case 'slip':
        // Unterminated junk: it ends at the next frame's leading delimiter and is dropped there.
        return r() < 0.5 ? junk : Buffer.concat([junk, Buffer.from([0xdb, 0x01, 0xc0, 0x00])]);
      case 'crc': {
        // A real frame with one payload byte flipped: a CRC error (or junk bytes alone).
        if (r() < 0.5) return junk;
        const bad = Buffer.from(valid);
        bad[4 + Math.floor(r() * Math.max(1, bad.length - 6))]! ^= 0x5a;
        return bad;
      }
    }
  }

  private onTick(): void {
    if (!this.port) return;
    const now = performance.now();
    // Retransmit unacked frames after the timeout (firmware-like).
    const timeout = this.o.ackTimeoutMs ?? 1000;
    if (this.o.ack && now - this.lastResendScan >= timeout / 4) {
      this.lastResendScan = now;
      for (const e of this.unacked.values()) {
        if (this.blocked) break;
        if (now - e.sentAt >= timeout) {
          e.sentAt = now;
          this.s.resent++;
          this.send(e.frame);
        }
      }
    }
    if (this.blocked) return;
    const count = this.o.count ?? Infinity;
    let due = Math.min(Math.floor(((now - this.t0) * this.o.rate) / 1000), count) - this.s.generated;
    const room = this.o.ack ? (this.o.bufferSize ?? 256) - this.unacked.size : 1000;
    if (due > room) due = room;
    if (due <= 0) {
      // Time-based catch-up is capped so a long block doesn't become a burst later.
      if (this.s.generated < count && room <= 0) this.t0 = now - (this.s.generated * 1000) / this.o.rate;
      return;
    }
    const garbage = this.o.garbage ?? 0;
    for (let i = 0; i < due && !this.blocked; i++) {
      const seq = this.s.generated++;
      const body = this.codec.encode(simReading(this.o.deviceId ?? 'sim-1', seq, this.o.codec));
      const frame = this.framing.encode(this.header ? header(KIND_DATA, seq, body) : body);
      if (garbage > 0 && this.rnd() < garbage) {
        this.s.garbage++;
        this.send(this.garbageFrame(frame));
      }
      if (this.o.ack) this.unacked.set(this.header ? seq & 0xffff : seq, { frame, sentAt: now });
      this.s.sent++;
      this.send(frame);
    }
    this.checkDone();
  }
}

export function createSimulatedDevice(o: SimulatorOptions): SimulatedDevice {
  return new Device(o);
}
