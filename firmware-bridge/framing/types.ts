// Contracts shared by every framing: an incremental decoder (bytes in, whole frames out) and an
// encoder. Decoders are bounded (they never hold more than one maximum frame plus a few header
// bytes) and never throw on input: a broken frame is reported to the error sink and skipped.

export type FrameErrorReason = 'crc' | 'overlong' | 'truncated' | 'bad-escape' | 'bad-encoding' | 'junk';

/** Called once per broken frame (or per run of unframed bytes); must not throw. */
export type FrameErrorSink = (reason: FrameErrorReason, detail: string) => void;

export interface FrameDecoder {
  /**
   * Feed bytes as they arrive; returns the complete frames they finished (possibly none).
   * Returned buffers may share memory with `chunk`: copy them if you keep them.
   */
  push(chunk: Buffer): Buffer[];
  /**
   * Called after an idle gap: a partial frame left in the buffer is a truncated frame. It is
   * counted and dropped; framings that can resync inside it (CRC) return frames found behind it.
   */
  flush(): Buffer[];
  /** Bytes currently held for an unfinished frame (bounded by the framing's maximum). */
  readonly buffered: number;
  /**
   * The unfinished frame, when the framing knows its length before its end (crc): `id` changes
   * when another frame is held, `bytes` is its whole size on the wire. Lets the link give up on a
   * "frame" (noise that looked like a header) that could not still be arriving at its baud rate.
   */
  held?(): { id: number; bytes: number } | undefined;
}

export interface Framing {
  readonly type: 'line' | 'cobs' | 'slip' | 'crc';
  /** True when the framing carries arbitrary bytes (binary codecs, acknowledged-mode headers). */
  readonly binarySafe: boolean;
  createDecoder(onError: FrameErrorSink): FrameDecoder;
  /** One frame on the wire for `payload` (a fresh buffer). */
  encode(payload: Buffer): Buffer;
}
