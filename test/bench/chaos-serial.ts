// The chaos bench's serial leg (test/bench/chaos.ts): a device on the firmware bridge's
// acknowledged protocol (docs/firmware-protocol.md: crc framing, header mode, JSON body) behind a
// socat pty pair that this process owns, so the "cable" outlives every kill -9 of the gateway
// (the gateway's end closes and is opened again by the next start). The device sends each
// reading with a unique id (`"s":N` in the body; the header's 16-bit SEQ is N & 0xffff, never
// reused while N is unacknowledged: at most `window` are), keeps it until ACKed, resends it after
// `ackTimeoutMs` without an answer (a NAK: at the next resend scan). An ACKed id is what the
// gateway promised: it must reach upstream. Skipped (undefined) when socat is not installed.
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { hangUpAware } from '../../core/serial-binding.js';
import { createFraming } from '../../firmware-bridge/framing/index.js';
import type { FrameDecoder } from '../../firmware-bridge/framing/index.js';
import { HEADER_BYTES, KIND_ACK, KIND_DATA, KIND_NAK, header } from '../../firmware-bridge/protocol.js';
import { which } from '../helpers/index.js';
import { sleep } from './chaos-load.js';

const exists = (p: string): Promise<boolean> =>
  lstat(p).then(
    () => true,
    () => false,
  );

/** socat's pty pair: dev0 the device's end, dev1 the gateway's (the link's `path`). */
export class PtyPair {
  restarts = 0;
  private child: ChildProcess | undefined;
  private stopping = false;
  readonly dev0: string;
  readonly dev1: string;

  private constructor(
    private readonly bin: string,
    dir: string,
    private readonly onDeath: (why: string) => void,
  ) {
    this.dev0 = join(dir, 'dev0');
    this.dev1 = join(dir, 'dev1');
  }

  static async create(dir: string, onDeath: (why: string) => void): Promise<PtyPair | undefined> {
    const bin = which('socat');
    if (!bin) return undefined;
    const p = new PtyPair(bin, dir, onDeath);
    await p.start();
    return p;
  }

  private async start(): Promise<void> {
    await rm(this.dev0, { force: true });
    await rm(this.dev1, { force: true });
    const c = spawn(this.bin, ['-d', '-d', `pty,raw,echo=0,link=${this.dev0}`, `pty,raw,echo=0,link=${this.dev1}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    // The pair must outlive the gateway: a socat that ends on its own is the bench's finding
    // (the leg would stall), started again so the run goes on.
    c.once('exit', (code, signal) => {
      if (this.stopping || this.child !== c) return;
      this.onDeath(`socat exited (code ${code}, signal ${signal}): ${stderr.slice(-500)}`);
      this.restarts++;
      void this.start();
    });
    this.child = c;
    const deadline = Date.now() + 5000;
    while (!((await exists(this.dev0)) && (await exists(this.dev1)))) {
      if (Date.now() > deadline) throw new Error(`socat did not create ${this.dev0}, ${this.dev1}: ${stderr}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
}

/** The device: readings with unique ids, kept until ACKed, resent on timeout. */
export class SerialDevice {
  readonly acked: Uint8Array;
  readonly ackedAt: Uint32Array;
  next = 0;
  ackedCount = 0;
  resent = 0;
  naks = 0;
  reopens = 0;
  private readonly framing = createFraming({ type: 'crc', maxFrameBytes: 4096 });
  private decoder: FrameDecoder;
  private port: SerialPort | undefined;
  private readonly unacked = new Map<number, { id: number; frame: Buffer; sentAt: number }>();
  private timer: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Off at the end: no new readings, the unacknowledged ones still resent. */
  private generating = true;

  constructor(
    private readonly path: string,
    private readonly rate: number,
    capacity: number,
    private readonly t0: number,
    private readonly window = 256,
    private readonly ackTimeoutMs = 500,
  ) {
    this.acked = new Uint8Array(capacity);
    this.ackedAt = new Uint32Array(capacity);
    this.decoder = this.framing.createDecoder(() => undefined);
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  start(): void {
    this.open();
    const started = performance.now();
    let owed = 0;
    let lastScan = 0;
    const pad = 's'.repeat(60);
    this.timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor(((now - started) / 1000) * this.rate) - owed;
      owed += due;
      if (!this.port) return; // readings not generated while the cable is out are not owed later
      if (now - lastScan >= this.ackTimeoutMs / 4) {
        lastScan = now;
        for (const e of this.unacked.values())
          if (now - e.sentAt >= this.ackTimeoutMs) {
            e.sentAt = now;
            this.resent++;
            this.port.write(e.frame);
          }
      }
      for (let k = 0; this.generating && k < due && this.unacked.size < this.window && this.next < this.acked.length; k++) {
        const id = this.next++;
        const body = Buffer.from(`{"deviceId":"chaos-dev","s":${id},"pad":"${pad}"}`);
        const frame = this.framing.encode(header(KIND_DATA, id, body));
        this.unacked.set(id & 0xffff, { id, frame, sentAt: now });
        this.port.write(frame);
      }
    }, 20);
  }

  private open(): void {
    if (this.stopped) return;
    const port = new SerialPort(hangUpAware({ path: this.path, baudRate: 115200, autoOpen: false }));
    const lost = (): void => {
      if (this.port !== port) return;
      this.port = undefined;
      port.removeAllListeners('data');
      if (port.isOpen) port.close(() => undefined);
      this.reopenLater();
    };
    port.on('error', lost);
    port.on('close', lost);
    port.open((err) => {
      if (err || this.stopped) {
        if (!err) port.close(() => undefined);
        else this.reopenLater();
        return;
      }
      this.port = port;
      this.decoder = this.framing.createDecoder(() => undefined);
      port.on('data', (chunk: Buffer) => {
        for (const f of this.decoder.push(chunk)) this.onFrame(f);
      });
    });
  }

  private reopenLater(): void {
    if (this.stopped || this.reopenTimer) return;
    this.reopens++;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.open();
    }, 200);
  }

  private onFrame(frame: Buffer): void {
    if (frame.length < HEADER_BYTES) return;
    const seq = frame.readUInt16BE(1);
    if (frame[0] === KIND_NAK) this.naks++; // resent at the next scan after the timeout
    if (frame[0] !== KIND_ACK) return;
    const e = this.unacked.get(seq);
    if (!e) return;
    this.unacked.delete(seq);
    if (this.acked[e.id] === 0) {
      this.acked[e.id] = 1;
      this.ackedAt[e.id] = Date.now() - this.t0;
      this.ackedCount++;
    }
  }

  /** Stop generating; keep resending until every reading is ACKed (bounded); then close. Resolves with those left. */
  async stop(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    this.generating = false;
    while (this.unacked.size > 0 && Date.now() < deadline) await sleep(100);
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.reopenTimer);
    const p = this.port;
    this.port = undefined;
    if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
    return this.unacked.size;
  }
}
