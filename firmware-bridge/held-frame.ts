// Times the frame a decoder holds when its length is known before its end (crc framing). Noise
// that looks like a header claims up to maxFrameBytes; a device sending small frames steadily
// never leaves the idle gap that would end it, so its frames would wait behind it until that many
// bytes came in (minutes on a slow device). A held frame still incomplete long after it could have
// crossed the wire at the link's baud rate (plus frameTimeoutMs) is overdue: the link drops it.
import type { SerialLinkOptions } from './options.js';

type WireOptions = Pick<SerialLinkOptions, 'baudRate' | 'dataBits' | 'parity' | 'stopBits' | 'frameTimeoutMs'>;

export class HeldFrameWatch {
  private id = -1;
  private since = 0;
  /** Bits per byte on the wire: start bit, data bits, parity bit, stop bits. */
  private readonly msPerByte: number;

  constructor(private readonly o: WireOptions) {
    this.msPerByte = ((1 + o.dataBits + (o.parity === 'none' ? 0 : 1) + o.stopBits) * 1000) / o.baudRate;
  }

  /** Forget the timed frame (new decoder, reading paused: the time is not the device's). */
  reset(): void {
    this.id = -1;
  }

  /** `held` is the decoder's held frame (FrameDecoder.held); true when it is overdue. */
  overdue(held: { id: number; bytes: number } | undefined, now: number): boolean {
    if (!held) {
      this.id = -1;
      return false;
    }
    if (held.id !== this.id) {
      this.id = held.id;
      this.since = now;
      return false;
    }
    if (now - this.since <= held.bytes * this.msPerByte + this.o.frameTimeoutMs) return false;
    this.id = -1;
    return true;
  }
}
