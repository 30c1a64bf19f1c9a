// RELP frames (the Reliable Event Logging Protocol of rsyslog's omrelp/imrelp; librelp's
// doc/relp.html): `TXNR SP COMMAND SP DATALEN [SP DATA] LF`, TXNR and DATALEN 1-9 digits, COMMAND
// 1-32 letters, DATA exactly DATALEN octets (absent when DATALEN is 0).
//
// The spec has the peer that sees a framing error close the connection (nothing is acknowledged
// that way, so the client sends again what it had not seen answered): push() throws RelpFrameError
// and the session destroys the socket. Bounded as the syslog framer is: a frame keeps at most
// maxBytes of its data; the rest is read and thrown away and the frame is marked truncated (a
// message cut and kept, as on TCP; rsyslog's imrelp refuses such a session instead, which would
// make its sender retry the same message forever).

import { BoundedBytes } from './bounded-bytes.js';

const LF = 0x0a;
const SP = 0x20;
/** 9 digits + SP + 32 letters + SP + 9 digits: a header longer than this is no RELP. */
const MAX_HEADER = 52;

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
  /** DATALEN was over maxBytes: data holds its first maxBytes. */
  truncated: boolean;
}

export class RelpFrameError extends Error {}

const HEADER = /^(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})$/;

export class RelpFramer {
  private mode: 'header' | 'data' | 'trailer' = 'header';
  private header = '';
  private txnr = 0;
  private command = '';
  /** Data bytes of the frame still to come (kept or thrown away). */
  private need = 0;
  private readonly kept: BoundedBytes;

  constructor(maxBytes: number) {
    this.kept = new BoundedBytes(maxBytes);
  }

  /** A frame is begun and not complete (the connection's message timeout runs). */
  get begun(): boolean {
    return this.mode !== 'header' || this.header.length > 0;
  }

  /** The frames completed by this chunk, in order; throws RelpFrameError on a framing error. */
  push(chunk: Buffer): RelpFrame[] {
    const out: RelpFrame[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.mode === 'header') {
        const b = chunk[i++]!;
        // The header ends at the SP before the data, or at the LF of a frame without data.
        if (b === LF || (b === SP && HEADER.test(this.header))) {
          this.startData(b === LF);
          if (this.mode === 'header') out.push(this.emit());
          continue;
        }
        if (this.header.length >= MAX_HEADER || b < 0x20 || b > 0x7e)
          throw new RelpFrameError(`not a RELP frame header: ${JSON.stringify(this.header.slice(0, 60))}`);
        this.header += String.fromCharCode(b);
      } else if (this.mode === 'data') {
        const take = Math.min(this.need, chunk.length - i);
        this.kept.append(chunk.subarray(i, i + take));
        i += take;
        this.need -= take;
        if (this.need === 0) this.mode = 'trailer';
      } else {
        if (chunk[i++] !== LF)
          throw new RelpFrameError(`RELP frame ${this.txnr} (${this.command}) not ended by LF after its ${this.kept.length} data bytes: DATALEN wrong`);
        out.push(this.emit());
      }
    }
    return out;
  }

  private startData(endedByLf: boolean): void {
    const m = HEADER.exec(this.header);
    if (!m) throw new RelpFrameError(`not a RELP frame header: ${JSON.stringify(this.header.slice(0, 60))}`);
    this.txnr = Number(m[1]);
    this.command = m[2]!;
    const length = Number(m[3]);
    if (endedByLf !== (length === 0))
      throw new RelpFrameError(`RELP frame ${this.txnr} (${this.command}): DATALEN ${length} and ${endedByLf ? 'no' : 'a'} data part`);
    this.need = length;
    this.mode = length === 0 ? 'header' : 'data';
  }

  private emit(): RelpFrame {
    const { bytes, truncated } = this.kept.take();
    const f: RelpFrame = { txnr: this.txnr, command: this.command.toLowerCase(), data: bytes, truncated };
    this.header = '';
    this.mode = 'header';
    return f;
  }
}

/** A `rsp` frame answering txnr (data: `200 OK`, `500 reason`, or empty for close, as librelp). */
export function relpResponse(txnr: number, data: string): Buffer {
  const body = Buffer.from(data, 'utf8');
  return Buffer.concat([
    Buffer.from(body.length === 0 ? `${txnr} rsp 0\n` : `${txnr} rsp ${body.length} `, 'latin1'),
    body,
    body.length === 0 ? Buffer.alloc(0) : Buffer.from('\n'),
  ]);
}

/** The server's hint that it closes the session (txnr 0, not answered). */
export const RELP_SERVERCLOSE = Buffer.from('0 serverclose 0\n', 'latin1');

/** The offers of an `open` command's data: `name=value` per line (the first line may be empty). */
export function relpOffers(data: Buffer): Map<string, string> {
  const offers = new Map<string, string>();
  for (const line of data.toString('utf8').split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    offers.set(eq === -1 ? line : line.slice(0, eq), eq === -1 ? '' : line.slice(eq + 1));
  }
  return offers;
}
