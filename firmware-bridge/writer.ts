// Bounded, ordered writes to a port: at most `max` downlink commands and `replyMax` ACK/NAK
// replies pending (two bounds: a group commit ACKs hundreds of frames at once, and those replies
// must neither be refused for the commands' bound nor crowd the commands out); when the port's
// write() returns false we wait for 'drain' before the next one (backpressure honoured, no
// unbounded buffering inside the stream).
// A port that closes does not call back every write handed to it: serialport's stream calls back
// the one at the binding and keeps the writes buffered behind it (or handed to it while it closes)
// waiting for an 'open' event a closed port never emits. So detach() settles those too, and a
// late callback from the old port no longer counts.
import { ERRORS } from '../core/errors.js';

export interface WritablePort {
  write(data: Buffer, cb: (err: Error | null | undefined) => void): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

interface Pending {
  data: Buffer;
  /** Once: the first of write callback, detach() or a refusal settles it; later ones are ignored. */
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WriteQueue {
  private port: WritablePort | null = null;
  private queue: Pending[] = [];
  private waitingDrain = false;
  /** Handed to the port and not called back yet. */
  private readonly written = new Set<Pending>();
  /** Pending (queued or being written) commands and replies, each against its own bound. */
  private commands = 0;
  private replies = 0;

  constructor(
    private readonly max: number,
    private readonly where: string,
    private readonly onWritten: (bytes: number) => void,
    private readonly replyMax = max,
  ) {}

  attach(port: WritablePort): void {
    this.port = port;
    this.waitingDrain = false;
    this.pump();
  }

  /**
   * Port lost or link stopped: fail everything queued, and every write handed to the port and not
   * called back (a closed port may never call it back: its promise would never settle and it would
   * hold its place against the bound for good). Callers may retry; ACKs are simply resent by firmware.
   */
  detach(reason: string, hint?: string): void {
    this.port = null;
    this.waitingDrain = false;
    const q = this.queue;
    this.queue = [];
    for (const p of q) p.reject(ERRORS.GH_SERIAL_NOT_OPEN({ state: reason }, { where: this.where, hint }));
    const w = [...this.written];
    this.written.clear();
    const unconfirmed = `${reason} before the write was confirmed (it may have been sent)`;
    for (const p of w) p.reject(ERRORS.GH_SERIAL_NOT_OPEN({ state: unconfirmed }, { where: this.where, hint }));
  }

  /** An ACK/NAK reply: bounded by replyMax, not by the commands' bound. */
  writeReply(data: Buffer): Promise<void> {
    return this.enqueue(data, true);
  }

  write(data: Buffer): Promise<void> {
    return this.enqueue(data, false);
  }

  private enqueue(data: Buffer, reply: boolean): Promise<void> {
    if (!this.port) {
      return Promise.reject(ERRORS.GH_SERIAL_NOT_OPEN({ state: 'is not open' }, { where: this.where }));
    }
    const n = reply ? this.replies : this.commands;
    if (n >= (reply ? this.replyMax : this.max)) {
      const what = reply ? 'ACK/NAK replies' : 'writes';
      return Promise.reject(
        ERRORS.GH_SERIAL_QUEUE_FULL(
          { pending: n, what },
          {
            where: this.where,
            hint: reply ? 'the device is not reading its replies: check its receive side' : 'send commands slower or raise writeQueue',
          },
        ),
      );
    }
    if (reply) this.replies++;
    else this.commands++;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (): boolean => {
        if (settled) return false;
        settled = true;
        if (reply) this.replies--;
        else this.commands--;
        return true;
      };
      this.queue.push({
        data,
        resolve: () => {
          if (done()) resolve();
        },
        reject: (err) => {
          if (done()) reject(err);
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.port && !this.waitingDrain && this.queue.length > 0) {
      const p = this.queue.shift()!;
      const port = this.port;
      this.written.add(p);
      const ok = port.write(p.data, (err) => {
        this.written.delete(p);
        if (err) p.reject(err);
        else {
          // (counted even when detach() already failed it: the bytes went out)
          this.onWritten(p.data.length);
          p.resolve();
        }
      });
      if (!ok) {
        this.waitingDrain = true;
        port.once('drain', () => {
          if (this.port !== port) return;
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
  }
}
