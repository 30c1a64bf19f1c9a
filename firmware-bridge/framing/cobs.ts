// COBS (Consistent Overhead Byte Stuffing) framing: each frame is COBS-encoded (no 0x00 inside)
// and terminated by 0x00. The encoder also writes a leading 0x00 so that line noise before a
// frame ends in its own (discarded) frame instead of corrupting this one; empty frames are skipped.
import type { FrameDecoder, FrameErrorSink, Framing } from './types.js';

export interface CobsFramingOptions {
  maxFrameBytes: number;
}

/** Max encoded size of a payload of n bytes (one code byte per 254 data bytes, plus one). */
export function cobsMaxEncoded(n: number): number {
  return n + Math.ceil(n / 254) + 1;
}

/** Decode src[0, len) into dst; returns the decoded length or -1 when the encoding is invalid. */
export function cobsDecodeInto(src: Buffer, len: number, dst: Buffer): number {
  let r = 0;
  let w = 0;
  while (r < len) {
    const code = src[r++]!;
    if (code === 0) return -1;
    const n = code - 1;
    if (r + n > len) return -1;
    src.copy(dst, w, r, r + n);
    w += n;
    r += n;
    if (code !== 0xff && r < len) dst[w++] = 0;
  }
  return w;
}

/** Encode payload with a leading and trailing 0x00 delimiter. */
export function cobsEncode(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(cobsMaxEncoded(payload.length) + 2);
  out[0] = 0;
  let codeIdx = 1;
  let w = 2;
  let code = 1;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i]!;
    if (b === 0) {
      out[codeIdx] = code;
      codeIdx = w++;
      code = 1;
    } else {
      out[w++] = b;
      if (++code === 0xff) {
        out[codeIdx] = code;
        codeIdx = w++;
        code = 1;
      }
    }
  }
  out[codeIdx] = code;
  out[w++] = 0;
  return out.subarray(0, w);
}

class CobsDecoder implements FrameDecoder {
  private readonly acc: Buffer;
  private readonly scratch: Buffer;
  private len = 0;
  private discarding = false;

  constructor(
    private readonly max: number,
    private readonly onError: FrameErrorSink,
  ) {
    this.acc = Buffer.allocUnsafe(cobsMaxEncoded(max));
    this.scratch = Buffer.allocUnsafe(cobsMaxEncoded(max));
  }

  get buffered(): number {
    return this.len;
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      const z = chunk.indexOf(0, i);
      const end = z < 0 ? chunk.length : z;
      const n = end - i;
      if (!this.discarding) {
        if (this.len + n > this.acc.length) {
          this.onError('overlong', `COBS frame longer than maxFrameBytes ${this.max}`);
          this.discarding = true;
          this.len = 0;
        } else {
          chunk.copy(this.acc, this.len, i, end);
          this.len += n;
        }
      }
      if (z < 0) break;
      // Delimiter: finish the frame.
      if (this.discarding) this.discarding = false;
      else if (this.len > 0) {
        const dl = cobsDecodeInto(this.acc, this.len, this.scratch);
        if (dl < 0) this.onError('bad-encoding', 'invalid COBS code byte');
        else if (dl > this.max) this.onError('overlong', `COBS frame of ${dl} bytes > maxFrameBytes ${this.max}`);
        else out.push(Buffer.from(this.scratch.subarray(0, dl)));
      }
      this.len = 0;
      i = z + 1;
    }
    return out;
  }

  flush(): Buffer[] {
    if (this.len > 0) this.onError('truncated', `partial COBS frame of ${this.len} bytes dropped after idle gap`);
    this.len = 0;
    this.discarding = false;
    return [];
  }
}

export function cobsFraming(o: CobsFramingOptions): Framing {
  return {
    type: 'cobs',
    binarySafe: true,
    createDecoder: (onError) => new CobsDecoder(o.maxFrameBytes, onError),
    encode: cobsEncode,
  };
}
