// Raw MQTT 3.1.1 packets as bytes, and a raw TCP socket that records what the broker answers,
// for tests that must send what no well-behaved client library would.
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed MQTT string from raw bytes (so tests can put any bytes in it). */
export function mqttString(bytes: Buffer | string): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export function connectPacket(
  clientId: Buffer | string,
  opts: { level?: number; will?: { topic: Buffer | string; payload: Buffer }; username?: string; password?: string } = {},
): Buffer {
  const flags = 0x02 | (opts.will ? 0x04 : 0) | (opts.username !== undefined ? 0x80 : 0) | (opts.password !== undefined ? 0x40 : 0);
  const parts = [mqttString('MQTT'), Buffer.from([opts.level ?? 4, flags, 0x00, 0x3c]), mqttString(clientId)];
  if (opts.will) parts.push(mqttString(opts.will.topic), mqttString(opts.will.payload));
  if (opts.username !== undefined) parts.push(mqttString(opts.username));
  if (opts.password !== undefined) parts.push(mqttString(opts.password));
  return packet(0x10, Buffer.concat(parts));
}

export function publishPacket(topic: Buffer | string, payload: Buffer | string, qos: 0 | 1 | 2 = 0, id = 1): Buffer {
  const parts = [mqttString(topic)];
  if (qos > 0) parts.push(Buffer.from([id >> 8, id & 0xff]));
  parts.push(typeof payload === 'string' ? Buffer.from(payload) : payload);
  return packet(0x30 | (qos << 1), Buffer.concat(parts));
}

export function subscribePacket(filter: Buffer | string, qos: 0 | 1 | 2 = 0, id = 1): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), mqttString(filter), Buffer.from([qos])]));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
export const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/** A raw socket that collects every byte received until it closes. */
export class RawClient {
  readonly received: Buffer[] = [];
  closed = false;
  private readonly closedP: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.received.push(d));
    socket.on('error', () => undefined);
    this.closedP = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const s = netConnect(port, host);
    s.setNoDelay(true);
    await once(s, 'connect');
    return new RawClient(s);
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** Resolves when the broker closed the connection; rejects after ms. */
  async waitClosed(ms = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.closedP, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`socket still open after ${ms} ms`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when at least n bytes arrived; rejects after ms. */
  async waitBytes(n: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.bytes().length < n) {
      if (this.closed) throw new Error(`closed after ${this.bytes().length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.bytes().length} of ${n} bytes within ${ms} ms`);
      await Promise.race([once(this.socket, 'data'), once(this.socket, 'close'), new Promise((r) => setTimeout(r, left).unref())]);
    }
    return this.bytes();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
