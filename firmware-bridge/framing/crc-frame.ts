// Length-prefixed frames with CRC-16/CCITT-FALSE (layout in docs/firmware-protocol.md):
//
//   offset 0  u8   0xA5          magic 1
//   offset 1  u8   0x5A          magic 2
//   offset 2  u16  LEN (BE)      payload length, 0..maxFrameBytes
//   offset 4  LEN bytes          payload
//   offset 4+LEN u16 CRC (BE)    CRC-16/CCITT-FALSE over bytes [2, 4+LEN) (length + payload)
//
// Resync: on a bad CRC or an impossible length the decoder drops only the first magic byte and
// searches again from the next byte, so a valid frame hidden behind garbage is still found.
import { crc16 } from './crc16.js';
import type { FrameDecoder, FrameErrorSink, Framing } from './types.js';

export const CRC_MAGIC1 = 0xa5;
export const CRC_MAGIC2 = 0x5a;
export const CRC_OVERHEAD = 6;

export interface CrcFramingOptions {
  maxFrameBytes: number;
}

export function crcEncode(payload: Buffer): Buffer {
  const len = payload.length;
  const out = Buffer.allocUnsafe(len + CRC_OVERHEAD);
  out[0] = CRC_MAGIC1;
  out[1] = CRC_MAGIC2;
  out.writeUInt16BE(len, 2);
  payload.copy(out, 4);
  out.writeUInt16BE(crc16(out, 2, 4 + len), 4 + len);
  return out;
}

class CrcDecoder implements FrameDecoder {
  private pending: Buffer | null = null;
  /** After a reported error, the rest of that broken frame is not reported again as junk. */
  private quiet = false;
  /** Counts the frames held in turn (held().id). */
  private holds = 0;

  constructor(
    private readonly max: number,
    private readonly onError: FrameErrorSink,
  ) {}

  private report(reason: 'crc' | 'overlong', detail: string): void {
    this.quiet = true;
    this.onError(reason, detail);
  }

  private junk(n: number): void {
    if (!this.quiet) this.onError('junk', `${n} bytes outside frames skipped`);
    this.quiet = true;
  }

  get buffered(): number {
    return this.pending ? this.pending.length : 0;
  }

  held(): { id: number; bytes: number } | undefined {
    const p = this.pending;
    if (!p || p.length < 4) return undefined;
    return { id: this.holds, bytes: p.readUInt16BE(2) + CRC_OVERHEAD };
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const had = this.pending !== null;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let i = 0;
    let junk = 0;
    for (;;) {
      const m = buf.indexOf(CRC_MAGIC1, i);
      if (m < 0) {
        junk += buf.length - i;
        i = buf.length;
        break;
      }
      junk += m - i;
      if (m + 4 > buf.length) {
        // Keep a possible header start; 1..3 bytes.
        i = m;
        break;
      }
      if (buf[m + 1] !== CRC_MAGIC2) {
        junk++;
        i = m + 1;
        continue;
      }
      const len = buf.readUInt16BE(m + 2);
      if (len > this.max) {
        this.report('overlong', `length field ${len} > maxFrameBytes ${this.max}`);
        i = m + 1;
        continue;
      }
      const end = m + 4 + len;
      if (end + 2 > buf.length) {
        i = m;
        break;
      }
      if (crc16(buf, m + 2, end) !== buf.readUInt16BE(end)) {
        this.report('crc', `bad CRC on a ${len}-byte frame`);
        i = m + 1;
        continue;
      }
      if (junk > 0) this.junk(junk);
      junk = 0;
      this.quiet = false;
      out.push(buf.subarray(m + 4, end));
      i = end + 2;
    }
    if (junk > 0) this.junk(junk);
    // Bounded: a kept tail is at most one header or one maximum frame (len <= max was checked).
    if (i < buf.length) {
      this.pending = Buffer.from(buf.subarray(i));
      // Still the same frame only when the kept bytes start where the held ones did.
      if (!had || i > 0) this.holds++;
    }
    return out;
  }

  flush(): Buffer[] {
    const p = this.pending;
    if (!p) return [];
    this.pending = null;
    this.onError('truncated', `partial frame of ${p.length} bytes dropped (idle gap, or too slow for its length)`);
    // The partial frame's length may have swallowed real frames that came after it: rescan.
    return p.length > 1 ? this.push(p.subarray(1)) : [];
  }
}

export function crcFraming(o: CrcFramingOptions): Framing {
  return {
    type: 'crc',
    binarySafe: true,
    createDecoder: (onError) => new CrcDecoder(o.maxFrameBytes, onError),
    encode: crcEncode,
  };
}
