// A size limit on what an mqtt.js client reads (the MQTT source's maxMessageBytes, the control
// channel's maxPayloadBytes): a broker that sends a 100 MB message must not take the gateway's
// memory. mqtt.js reads a whole packet into memory before it parses it (mqtt-packet's parser waits
// for all of it), so the bound is kept below it:
// - MQTT 5: the CONNECT advertises Maximum Packet Size (the limit + HEADERS_BYTES); the broker
//   then never sends a bigger packet: it drops the message as delivered [MQTT-3.1.2-25].
// - Every version (a 3.1.1 broker has no such field, a 5 broker may ignore it): a guard between the
//   socket and mqtt.js' parser reads each packet's fixed header; a PUBLISH bigger than that bound
//   reaches the parser cut to its topic and packet id, with a marker payload (the original bytes
//   are skipped as they arrive, never held), so the client acknowledges it in order as any
//   message, and its user tells it by cut(). A smaller packet whose payload is still over the
//   limit (held, within the bound): tooLarge() tells both.
import { randomBytes } from 'node:crypto';
import type { Duplex, TransformCallback } from 'node:stream';
import { Transform } from 'node:stream';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';

/** Room in a packet for what comes with the payload: the fixed header, the topic (up to 65,535 bytes), the packet id, MQTT 5 properties. */
export const HEADERS_BYTES = 64 * 1024;

/** A cut message's payload: this guard's nonce, then the packet's original size (8 bytes). */
const NONCE_BYTES = 16;

/** The largest packet the source takes whole (bytes from its first byte to its last). */
export function maxPacketBytes(maxBytes: number): number {
  return maxBytes + HEADERS_BYTES;
}

/** Client options for the limit: MQTT 5's Maximum Packet Size, and a manual connect so that every stream, the first too, passes the guard. */
export function withSizeLimit(co: IClientOptions, maxBytes: number): IClientOptions {
  const out: IClientOptions = { ...co, manualConnect: true };
  if (co.protocolVersion === 5) out.properties = { ...co.properties, maximumPacketSize: maxPacketBytes(maxBytes) };
  return out;
}

export class SizeLimit {
  private readonly nonce = randomBytes(NONCE_BYTES);

  constructor(
    private readonly maxBytes: number,
    private readonly protocolVersion: 4 | 5,
  ) {}

  /** Put the guard on each stream the client opens (connect, every reconnect), then connect. */
  attach(c: MqttClient): void {
    // mqtt.js' types keep streamBuilder private; it is what connect() and every reconnect call.
    const client = c as unknown as { streamBuilder: (c: MqttClient) => Duplex };
    const build = client.streamBuilder;
    client.streamBuilder = (mc) => {
      const stream = build(mc);
      const pipe = stream.pipe.bind(stream);
      // mqtt.js pipes the stream into its parser (and writes to the stream itself): the guard goes between.
      stream.pipe = (<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T => {
        const guard = new PacketSizeGuard(maxPacketBytes(this.maxBytes), this.protocolVersion, this.nonce);
        pipe(guard);
        return guard.pipe(dest, opts);
      }) as Duplex['pipe'];
      return stream;
    };
    c.connect();
  }

  /** The size of the packet the guard cut to `packet` (not read), or undefined when it is one as it came. */
  cut(packet: IPublishPacket): number | undefined {
    const p = packet.payload;
    if (typeof p === 'string' || p.length !== NONCE_BYTES + 8 || !this.nonce.equals(p.subarray(0, NONCE_BYTES))) return undefined;
    return Number(p.readBigUInt64BE(NONCE_BYTES));
  }

  /** The size of `packet` when it is over the limit (the whole packet when the guard cut it, else its payload), or undefined. */
  tooLarge(packet: IPublishPacket): number | undefined {
    const cut = this.cut(packet);
    if (cut !== undefined) return cut;
    const p = packet.payload;
    const bytes = typeof p === 'string' ? Buffer.byteLength(p) : p.length;
    return bytes > this.maxBytes ? bytes : undefined;
  }
}

const PUBLISH = 3;

/**
 * The broker-to-client bytes, packet by packet: each passes as it came, but a PUBLISH bigger than
 * `maxPacket` goes on cut (topic, packet id, empty MQTT 5 properties, the marker) and the rest of it
 * is skipped. At most a fixed header and a topic are held (HEADERS_BYTES). A malformed header is
 * passed on as it is, and everything after it: mqtt.js' parser then fails the connection.
 */
export class PacketSizeGuard extends Transform {
  /** Bytes held: the fixed header, then (a packet being cut) its topic and packet id. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes of the current packet still to pass (pass) or to skip (skip). */
  private left = 0;
  private mode: 'header' | 'pass' | 'skip' | 'cut' | 'broken' = 'header';
  private remaining = 0;
  private first = 0;
  /** Most bytes ever held at once (tests). */
  peakHeld = 0;

  constructor(
    private readonly maxPacket: number,
    private readonly protocolVersion: 4 | 5,
    private readonly nonce: Buffer,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.mode === 'broken') {
        this.push(at === 0 ? chunk : chunk.subarray(at));
        break;
      }
      if (this.mode === 'pass' || this.mode === 'skip') {
        const n = Math.min(this.left, chunk.length - at);
        if (this.mode === 'pass') this.push(chunk.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.mode = 'header';
        continue;
      }
      // header or cut: hold bytes one piece at a time, as far as the next decision needs.
      const need = this.mode === 'header' ? this.headerNeed() : this.cutNeed();
      if (need > 0) {
        const n = Math.min(need, chunk.length - at);
        this.hold(chunk.subarray(at, at + n));
        at += n;
        continue;
      }
      this.decide();
    }
    if (this.mode === 'header' || this.mode === 'cut') {
      const need = this.mode === 'header' ? this.headerNeed() : this.cutNeed();
      if (need === 0) this.decide();
    }
    done();
  }

  private hold(b: Buffer): void {
    this.held.push(Buffer.from(b));
    this.heldBytes += b.length;
    this.peakHeld = Math.max(this.peakHeld, this.heldBytes);
  }

  private heldBuffer(): Buffer {
    if (this.held.length > 1) this.held = [Buffer.concat(this.held)];
    return this.held[0] ?? Buffer.alloc(0);
  }

  /** Bytes still needed to know the fixed header (first byte, remaining length): 0 when known. */
  private headerNeed(): number {
    if (this.heldBytes === 0) return 1;
    const h = this.heldBuffer();
    for (let i = 1; i < h.length; i++) if ((h[i]! & 0x80) === 0) return 0;
    return h.length >= 5 ? 0 : 1;
  }

  /** Bytes still needed of a packet being cut: its topic length, topic and packet id. */
  private cutNeed(): number {
    const h = this.heldBuffer();
    const headerLen = this.headerLength(h);
    const have = h.length - headerLen;
    if (have < 2) return 2 - have;
    const topicLen = h.readUInt16BE(headerLen);
    const want = 2 + topicLen + (((this.first >> 1) & 3) > 0 ? 2 : 0);
    return Math.max(0, want - have);
  }

  private headerLength(h: Buffer): number {
    let i = 1;
    while (i < h.length && i < 5 && (h[i]! & 0x80) !== 0) i++;
    return i + 1;
  }

  private decide(): void {
    const h = this.heldBuffer();
    if (this.mode === 'header') {
      this.first = h[0]!;
      let value = 0;
      let mul = 1;
      let i = 1;
      for (; i < h.length; i++) {
        value += (h[i]! & 0x7f) * mul;
        mul *= 128;
        if ((h[i]! & 0x80) === 0) break;
      }
      if (i >= h.length || i > 4) return this.breakOff();
      this.remaining = value;
      const total = h.length + value;
      if (this.first >> 4 === PUBLISH && total > this.maxPacket) {
        this.mode = 'cut';
        return;
      }
      this.release(h);
      this.left = value;
      this.mode = value > 0 ? 'pass' : 'header';
      return;
    }
    // cut: topic and packet id held; the packet's own bytes after them are skipped.
    const headerLen = this.headerLength(h);
    const kept = h.subarray(headerLen);
    if (kept.length > this.remaining) return this.breakOff();
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(headerLen + this.remaining));
    const body = Buffer.concat([kept, this.protocolVersion === 5 ? Buffer.from([0]) : Buffer.alloc(0), this.nonce, size]);
    this.release(Buffer.concat([Buffer.from([this.first]), varByte(body.length), body]));
    this.left = this.remaining - kept.length;
    this.mode = this.left > 0 ? 'skip' : 'header';
  }

  /** Not a header this guard reads: pass it and all that follows unchanged (the parser fails it). */
  private breakOff(): void {
    this.release(this.heldBuffer());
    this.mode = 'broken';
  }

  private release(b: Buffer): void {
    this.held = [];
    this.heldBytes = 0;
    if (b.length > 0) this.push(b);
  }
}

/** MQTT's variable byte integer. */
function varByte(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
