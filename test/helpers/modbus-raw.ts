// A Modbus device written byte by byte, for the fuzz harness of the Modbus source
// (test/e2e/fuzz-modbus.test.ts): it parses the gateway's requests (TCP: MBAP frames on a socket;
// RTU: frames with their CRC on the device end of a socat pty pair), builds the right answer from
// tables whose values are a function of their unit and address (so a value stored for a tag can
// be checked against the only value it may have), and hands each answer to a `hostile` hook that
// decides what is really sent: the answer, a damaged one, garbage, nothing, in pieces, late.
// The peer library (jsmodbus, test/helpers/industrial.ts) builds only well-formed answers.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';

/** The register a device holds at (unit, address): what a tag reading it may store, and nothing else. */
export function registerValue(unit: number, address: number): number {
  return (unit * 1000 + address * 13 + 7) & 0xffff;
}

/** The coil / discrete input a device holds at (unit, address). */
export function bitValue(unit: number, address: number): boolean {
  return (address * 5 + unit) % 3 === 0;
}

/** Modbus CRC-16 (polynomial 0xA001, initial 0xFFFF), as sent low byte first. */
export function crc16(b: Buffer): number {
  let crc = 0xffff;
  for (const byte of b) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** unit + PDU with its CRC appended: an RTU frame. */
export function withCrc(frame: Buffer): Buffer {
  const out = Buffer.alloc(frame.length + 2);
  frame.copy(out);
  out.writeUInt16LE(crc16(frame), frame.length);
  return out;
}

/** unit + PDU in an MBAP header with transaction id `tid`: a Modbus TCP frame. */
export function withMbap(tid: number, frame: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(tid & 0xffff, 0);
  head.writeUInt16BE(0, 2);
  head.writeUInt16BE(frame.length, 4);
  return Buffer.concat([head, frame]);
}

/**
 * The right answer (unit + PDU, no CRC) to a request (unit + PDU): reads from the value functions,
 * writes echoed; an unknown function code gets exception 0x01.
 */
export function rightAnswer(req: Buffer): Buffer {
  const unit = req[0] as number;
  const fc = req[1] as number;
  const address = req.length >= 4 ? req.readUInt16BE(2) : 0;
  const count = req.length >= 6 ? req.readUInt16BE(4) : 0;
  if (fc === 1 || fc === 2) {
    const bytes = Buffer.alloc(Math.ceil(count / 8));
    for (let i = 0; i < count; i++) if (bitValue(unit, address + i)) bytes[i >> 3]! |= 1 << (i & 7);
    return Buffer.concat([Buffer.from([unit, fc, bytes.length]), bytes]);
  }
  if (fc === 3 || fc === 4) {
    const regs = Buffer.alloc(count * 2);
    for (let i = 0; i < count; i++) regs.writeUInt16BE(registerValue(unit, address + i), i * 2);
    return Buffer.concat([Buffer.from([unit, fc, regs.length]), regs]);
  }
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return req.subarray(0, 6);
  return Buffer.from([unit, fc | 0x80, 1]);
}

/** What the hook sends: chunks written in turn, each after its delay (ms; 0: at once, same tick). */
export interface Sent {
  chunks: Array<{ bytes: Buffer; delayMs: number }>;
  /** Close the connection (TCP) after the chunks. */
  close?: boolean;
}

/**
 * The hook: given the request (unit + PDU), its transaction id (TCP; undefined on RTU) and the
 * framed right answer, what to send.
 */
export type Hostile = (req: Buffer, tid: number | undefined, right: Buffer) => Sent;

export interface RawDevice {
  /** Requests read so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export interface RawTcpDevice extends RawDevice {
  readonly port: number;
}

/**
 * Writes the answers of one connection in turn, as a device does (one answer on the line at a
 * time): an answer's delayed chunks hold the answers after it. Else a late chunk of one answer
 * came between the bytes of later ones, and made frames no device sends (a cut frame completed by
 * another answer's first bytes: a well-formed frame with wrong data, which no master can tell).
 */
class AnswerQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (b: Buffer) => void,
    private readonly end: () => void,
    private readonly alive: () => boolean,
  ) {}

  send(sent: Sent): void {
    this.tail = this.tail.then(async () => {
      for (const c of sent.chunks) {
        if (!this.alive()) return;
        if (c.delayMs > 0) await new Promise((r) => setTimeout(r, c.delayMs).unref());
        if (!this.alive()) return;
        this.write(c.bytes);
      }
      if (sent.close && this.alive()) this.end();
    });
  }
}

/** A Modbus TCP server answering each request through `hostile`. */
export async function rawTcpDevice(t: TestContext, hostile: Hostile): Promise<RawTcpDevice> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    const queue = new AnswerQueue(
      (b) => s.write(b),
      () => s.destroy(),
      () => !s.destroyed,
    );
    s.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 6) {
        const len = pending.readUInt16BE(4);
        if (pending.length < 6 + len) return;
        const tid = pending.readUInt16BE(0);
        const req = Buffer.from(pending.subarray(6, 6 + len));
        pending = pending.subarray(6 + len);
        requests++;
        queue.send(hostile(req, tid, withMbap(tid, rightAnswer(req))));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  t.after(close);
  return {
    port,
    get requests() {
      return requests;
    },
    close,
  };
}

/** Length of the RTU request at the start of `buf` (with CRC), undefined: not all there yet, -1: not a request. */
function rtuRequestLength(buf: Buffer): number | undefined {
  if (buf.length < 2) return undefined;
  const fc = buf[1] as number;
  if (fc >= 1 && fc <= 6) return 8;
  if (fc === 15 || fc === 16) return buf.length >= 7 ? 9 + (buf[6] as number) : undefined;
  return -1;
}

/** A Modbus RTU device (every unit id) on `path`, the device end of a socat pair, answering through `hostile`. */
export async function rawRtuDevice(
  t: TestContext,
  path: string,
): Promise<RawDevice & { hostile: Hostile | undefined /** Bytes on the line now, outside any answer (noise). */; write(b: Buffer): void }> {
  const { SerialPort } = await import('serialport');
  const { hangUpAware } = await import('../../core/serial-binding.js');
  const port = new SerialPort(hangUpAware({ path, baudRate: 38400, autoOpen: false }));
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  port.on('error', () => undefined);
  let pending = Buffer.alloc(0);
  let requests = 0;
  const queue = new AnswerQueue(
    (b) => port.write(b),
    () => undefined,
    () => port.isOpen,
  );
  const device = {
    hostile: undefined as Hostile | undefined,
    write(b: Buffer): void {
      if (port.isOpen) port.write(b);
    },
    get requests() {
      return requests;
    },
    close,
  };
  port.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      const len = rtuRequestLength(pending);
      if (len === undefined) return;
      if (len === -1 || (len > 0 && pending.length >= len && crc16(pending.subarray(0, len - 2)) !== pending.readUInt16LE(len - 2))) {
        pending = Buffer.alloc(0); // not a request of ours: resynchronise on the next one
        return;
      }
      if (pending.length < len) return;
      const req = Buffer.from(pending.subarray(0, len - 2));
      pending = pending.subarray(len);
      requests++;
      const right = withCrc(rightAnswer(req));
      queue.send(device.hostile ? device.hostile(req, undefined, right) : { chunks: [{ bytes: right, delayMs: 0 }] });
    }
  });
  async function close(): Promise<void> {
    if (!port.isOpen) return;
    await new Promise<void>((r) => {
      const timer = setTimeout(r, 2000);
      port.close(() => {
        clearTimeout(timer);
        r();
      });
    });
  }
  t.after(close);
  return device;
}
