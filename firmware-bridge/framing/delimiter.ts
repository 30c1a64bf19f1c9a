// Delimiter framing (newline by default): frames are the bytes between delimiters. A line longer
// than maxFrameBytes is counted once and discarded up to the next delimiter. Empty lines are
// skipped. With stripCR, a trailing '\r' (CRLF line endings) is removed.
import type { FrameDecoder, FrameErrorSink, Framing } from './types.js';

export interface DelimiterFramingOptions {
  delimiter: string;
  stripCR: boolean;
  maxFrameBytes: number;
}

class DelimiterDecoder implements FrameDecoder {
  private pending: Buffer | null = null;
  private discarding = false;

  constructor(
    private readonly delim: Buffer,
    private readonly stripCR: boolean,
    private readonly max: number,
    private readonly onError: FrameErrorSink,
  ) {}

  get buffered(): number {
    return this.pending ? this.pending.length : 0;
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const d = this.delim;
    let buf = chunk;
    let searchFrom = 0;
    if (this.pending) {
      // Only the tail of the old bytes can hold the start of a delimiter split across chunks.
      searchFrom = Math.max(0, this.pending.length - d.length + 1);
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let start = 0;
    for (;;) {
      const idx = d.length === 1 ? buf.indexOf(d[0]!, searchFrom) : buf.indexOf(d, searchFrom);
      if (idx < 0) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        let end = idx;
        if (this.stripCR && end > start && buf[end - 1] === 13) end--;
        if (end - start > this.max) this.onError('overlong', `line of ${end - start} bytes > maxFrameBytes ${this.max}`);
        else if (end > start) out.push(buf.subarray(start, end));
      }
      start = idx + d.length;
      searchFrom = start;
    }
    const rest = buf.length - start;
    if (rest > 0) {
      if (!this.discarding && rest > this.max + d.length) {
        this.onError('overlong', `line longer than maxFrameBytes ${this.max}`);
        this.discarding = true;
      }
      if (this.discarding) {
        // Keep only what may be the first bytes of a delimiter split across reads ("\r" of "\r\n"):
        // without them the overlong line would run on and swallow the next line unseen.
        const keep = Math.min(rest, d.length - 1);
        if (keep > 0) this.pending = Buffer.from(buf.subarray(buf.length - keep));
      } else {
        this.pending = Buffer.from(buf.subarray(start)); // copy: bounded, and frees the chunk
      }
    }
    return out;
  }

  flush(): Buffer[] {
    if (this.discarding) {
      // Inside an overlong line (already counted): only a possible delimiter start is held; the
      // line still ends at the next delimiter, as with a one-byte delimiter (nothing held then).
      this.pending = null;
      return [];
    }
    if (this.pending) {
      this.onError('truncated', `partial line of ${this.pending.length} bytes dropped after idle gap`);
      this.pending = null;
    }
    this.discarding = false;
    return [];
  }
}

export function delimiterFraming(o: DelimiterFramingOptions): Framing {
  const delim = Buffer.from(o.delimiter, 'utf8');
  return {
    type: 'line',
    binarySafe: false,
    createDecoder: (onError) => new DelimiterDecoder(delim, o.stripCR, o.maxFrameBytes, onError),
    encode(payload: Buffer): Buffer {
      const out = Buffer.allocUnsafe(payload.length + delim.length);
      payload.copy(out, 0);
      delim.copy(out, payload.length);
      return out;
    },
  };
}
