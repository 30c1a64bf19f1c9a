// SLIP framing (RFC 1055): END 0xC0 terminates a frame; ESC 0xDB escapes END (ESC ESC_END 0xDC)
// and ESC (ESC ESC_ESC 0xDD). The encoder writes a leading END too (as the RFC recommends) to
// flush line noise. A bad escape or an overlong frame is counted and skipped up to the next END.
import type { FrameDecoder, FrameErrorSink, Framing } from './types.js';

export const SLIP_END = 0xc0;
export const SLIP_ESC = 0xdb;
export const SLIP_ESC_END = 0xdc;
export const SLIP_ESC_ESC = 0xdd;

export interface SlipFramingOptions {
  maxFrameBytes: number;
}

export function slipEncode(payload: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (b === SLIP_END || b === SLIP_ESC) extra++;
  }
  const out = Buffer.allocUnsafe(payload.length + extra + 2);
  let w = 0;
  out[w++] = SLIP_END;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i]!;
    if (b === SLIP_END) {
      out[w++] = SLIP_ESC;
      out[w++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[w++] = SLIP_ESC;
      out[w++] = SLIP_ESC_ESC;
    } else out[w++] = b;
  }
  out[w++] = SLIP_END;
  return out;
}

class SlipDecoder implements FrameDecoder {
  private readonly acc: Buffer;
  private len = 0;
  private esc = false;
  private discarding = false;

  constructor(
    private readonly max: number,
    private readonly onError: FrameErrorSink,
  ) {
    this.acc = Buffer.allocUnsafe(max);
  }

  get buffered(): number {
    return this.len;
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < chunk.length; i++) {
      let b = chunk[i]!;
      if (b === SLIP_END) {
        if (!this.discarding && this.esc) this.onError('bad-escape', 'frame ended inside an escape');
        else if (!this.discarding && this.len > 0) out.push(Buffer.from(this.acc.subarray(0, this.len)));
        this.len = 0;
        this.esc = false;
        this.discarding = false;
        continue;
      }
      if (this.discarding) continue;
      if (this.esc) {
        this.esc = false;
        if (b === SLIP_ESC_END) b = SLIP_END;
        else if (b === SLIP_ESC_ESC) b = SLIP_ESC;
        else {
          this.onError('bad-escape', `ESC followed by 0x${b.toString(16)}`);
          this.discarding = true;
          this.len = 0;
          continue;
        }
      } else if (b === SLIP_ESC) {
        this.esc = true;
        continue;
      }
      if (this.len >= this.max) {
        this.onError('overlong', `SLIP frame longer than maxFrameBytes ${this.max}`);
        this.discarding = true;
        this.len = 0;
        continue;
      }
      this.acc[this.len++] = b;
    }
    return out;
  }

  flush(): Buffer[] {
    if (this.len > 0 || this.esc) this.onError('truncated', `partial SLIP frame of ${this.len} bytes dropped after idle gap`);
    this.len = 0;
    this.esc = false;
    this.discarding = false;
    return [];
  }
}

export function slipFraming(o: SlipFramingOptions): Framing {
  return {
    type: 'slip',
    binarySafe: true,
    createDecoder: (onError) => new SlipDecoder(o.maxFrameBytes, onError),
    encode: slipEncode,
  };
}
