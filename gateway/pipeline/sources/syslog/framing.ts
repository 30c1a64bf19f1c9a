// Framing of syslog over a stream (TCP, TLS), RFC 6587, detected per message as rsyslog's imtcp
// does: a frame that starts with a digit 1-9 followed by digits and a space is octet-counted
// (`MSG-LEN SP SYSLOG-MSG`, 3.4.1); any other is non-transparent, ended by LF (3.4.2; a CR
// before the LF and empty lines between frames are dropped).
//
// Bounded: a frame keeps at most maxBytes; the rest of a longer one is read and thrown away
// (octet-counted: exactly MSG-LEN bytes; LF: up to the LF) and the frame is marked truncated. A
// count of more than 10 digits is no count (rsyslog switches to LF framing too): the frame is
// taken as LF-framed from its first byte. A count larger than what the sender then sends swallows
// the next messages into its frame (there is no way to tell), until the count is reached or the
// connection ends; what was read is then given by end() as a truncated frame.
import { BoundedBytes } from './bounded-bytes.js';

export interface Frame {
  bytes: Buffer;
  /** Longer than maxBytes (cut), or cut short by the end of the connection. */
  truncated: boolean;
  framing: 'octet-counting' | 'lf';
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const MAX_COUNT_DIGITS = 10;

export class SyslogFramer {
  private mode: 'start' | 'count' | 'octets' | 'lf' = 'start';
  private digits = '';
  /** Octet-counted: bytes of the frame still to come (kept or thrown away). */
  private need = 0;
  private readonly kept: BoundedBytes;

  constructor(maxBytes: number) {
    this.kept = new BoundedBytes(maxBytes);
  }

  /** A frame is begun and not complete (the connection's message timeout runs). */
  get begun(): boolean {
    return this.mode !== 'start';
  }

  /** The frames completed by this chunk, in order. */
  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.mode) {
        case 'start': {
          const b = chunk[i]!;
          if (b === LF || b === CR || b === 0) {
            i++;
            break;
          }
          this.mode = b >= 0x31 && b <= 0x39 ? 'count' : 'lf';
          break;
        }
        case 'count': {
          const b = chunk[i]!;
          if (b >= 0x30 && b <= 0x39 && this.digits.length < MAX_COUNT_DIGITS) {
            this.digits += String.fromCharCode(b);
            i++;
          } else if (b === SP && this.digits.length <= MAX_COUNT_DIGITS) {
            this.need = Number(this.digits);
            this.digits = '';
            this.mode = 'octets';
            i++;
          } else {
            // not a count: the digits read are the start of an LF-framed message
            this.kept.append(Buffer.from(this.digits, 'latin1'));
            this.digits = '';
            this.mode = 'lf';
          }
          break;
        }
        case 'octets': {
          const take = Math.min(this.need, chunk.length - i);
          this.kept.append(chunk.subarray(i, i + take));
          i += take;
          this.need -= take;
          if (this.need === 0) out.push(this.emit('octet-counting'));
          break;
        }
        case 'lf': {
          const j = chunk.indexOf(LF, i);
          this.kept.append(chunk.subarray(i, j === -1 ? chunk.length : j));
          if (j === -1) {
            i = chunk.length;
            break;
          }
          i = j + 1;
          const f = this.emit('lf');
          if (!f.truncated && f.bytes.length > 0 && f.bytes[f.bytes.length - 1] === CR) f.bytes = f.bytes.subarray(0, f.bytes.length - 1);
          if (f.bytes.length > 0) out.push(f);
          break;
        }
      }
    }
    return out;
  }

  /** The connection ended: what a begun frame holds, as a truncated frame (LF-framed: a last line without its LF is whole). */
  end(): Frame | undefined {
    if (this.mode === 'start') return undefined;
    if (this.mode === 'count') this.kept.append(Buffer.from(this.digits, 'latin1'));
    const incomplete = this.mode !== 'lf';
    const f = this.emit(this.mode === 'octets' ? 'octet-counting' : 'lf');
    if (incomplete) f.truncated = true;
    return f.bytes.length > 0 ? f : undefined;
  }

  private emit(framing: Frame['framing']): Frame {
    const f: Frame = { ...this.kept.take(), framing };
    this.digits = '';
    this.mode = 'start';
    return f;
  }
}
