// Answers that match no request in flight, on Modbus TCP. modbus-serial pairs an answer with its
// request by the MBAP transaction id and drops one with another id without a word: a device or a
// TCP gateway that does not copy the request's id (or another master's answers on the connection)
// made every request a plain timeout, as if nothing had answered. This watches the library's port
// (its internals, read only) so that a request that times out while such an answer came is
// reported as what it is (link.ts: error kind 'out-of-step'). The late answer of one of the last
// requests that timed out (a slow device) is not one: that request stays a timeout. With a
// modbus-serial whose internals differ, nothing is watched and such a request stays a timeout.
// Bytes that are no Modbus TCP frame at all (another service on the port: its protocol id is not
// 0) are told apart too: notModbusText.
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';

/**
 * modbus-serial's TCP port: it sets the id it read before it emits an answer, and holds the id of
 * the next request; `_clientRcvData` holds what its socket `_client` brought and no answer took
 * yet, from the start of a frame (the frame being emitted, during the emit).
 */
interface Internals {
  _port?: {
    prependListener?: (event: 'data', fn: () => void) => unknown;
    _transactionIdRead?: unknown;
    _transactionIdWrite?: unknown;
    _clientRcvData?: unknown;
    _client?: { on?: (event: 'data', fn: () => void) => unknown };
  };
}

/** Bytes that are no Modbus TCP frame: their header's protocol id is not 0 (another service on the port). */
export interface ForeignAnswer {
  protocolId: number;
  /** The first bytes, as they came. */
  head: Buffer;
}

export interface StrayAnswer {
  /** The transaction id the answer carried. */
  got: number;
  /** The id of the request that waited (undefined: not known). */
  sent: number | undefined;
}

export interface StrayMark {
  count: number;
  sent: number | undefined;
  foreign: number;
}

/** Timed-out requests whose late answer is still expected (a slow device answers the one before). */
const LATE_KEPT = 4;

export class StrayAnswers {
  private count = 0;
  private last = 0;
  private readonly port: Internals['_port'];
  /** Ids of the requests waiting for their answer. */
  private readonly waiting = new Set<number>();
  /** Ids of the last requests that timed out: an answer to one of them is late, not out of step. */
  private late: number[] = [];
  private foreignCount = 0;
  /** The last bytes seen that are no Modbus TCP frame. */
  foreign: ForeignAnswer | undefined;

  constructor(client: ModbusRTU) {
    const c = client as unknown as Internals;
    const port = c._port;
    this.port = port;
    if (typeof port?.prependListener !== 'function') return;
    // A frame's MBAP protocol id is 0. A web server's "HTTP/1.1 400", an OPC UA server's error
    // message or an S7 PLC's answer on the port (the port of another service written in the
    // config) is no answer: the library waited for the length its bytes 4-5 seemed to give (a
    // plain timeout, then "closed by peer"), or took a frame of it as an answer with a stray id.
    // Looked at as the library sees it: after its socket listener (what it left, from a frame's
    // start) and as it emits a frame.
    port._client?.on?.('data', () => this.checkHeader(port._clientRcvData));
    // The library keeps every request it sent (by id, reused after 256), answered or not: which
    // answers are expected is kept here.
    port.prependListener('data', () => {
      if (this.checkHeader(port._clientRcvData)) return;
      const id = port._transactionIdRead;
      if (typeof id !== 'number' || this.waiting.has(id) || this.late.includes(id)) return;
      this.count++;
      this.last = id;
    });
  }

  /** Whether `buf` starts with a header that is no Modbus TCP header (noted in `foreign`). */
  private checkHeader(buf: unknown): boolean {
    if (!Buffer.isBuffer(buf) || buf.length < 4) return false;
    const protocolId = buf.readUInt16BE(2);
    if (protocolId === 0) return false;
    this.foreignCount++;
    this.foreign = { protocolId, head: Buffer.from(buf.subarray(0, 40)) };
    return true;
  }

  /** Just before a request is sent: since() then tells whether a stray answer came while it waited. */
  begin(): StrayMark {
    const sent = this.port?._transactionIdWrite;
    if (typeof sent !== 'number') return { count: this.count, sent: undefined, foreign: this.foreignCount };
    this.late = this.late.filter((id) => id !== sent);
    this.waiting.add(sent);
    return { count: this.count, sent, foreign: this.foreignCount };
  }

  /** Bytes that are no Modbus TCP frame, if such came since `mark`. */
  foreignSince(mark: StrayMark): ForeignAnswer | undefined {
    return this.foreignCount > mark.foreign ? this.foreign : undefined;
  }

  /** The request settled; `timedOut`: its answer may still come, late. */
  end(mark: StrayMark, timedOut: boolean): void {
    if (mark.sent === undefined) return;
    this.waiting.delete(mark.sent);
    if (timedOut) this.late = [...this.late, mark.sent].slice(-LATE_KEPT);
  }

  /** The last stray answer since `mark`, if one came. */
  since(mark: StrayMark): StrayAnswer | undefined {
    return this.count > mark.count ? { got: this.last, sent: mark.sent } : undefined;
  }
}

/** A request that timed out while `stray` came, in the plant's words. */
export function outOfStepText(stray: StrayAnswer): string {
  const waited = stray.sent === undefined ? 'while the request waited' : `while the request with id ${stray.sent} waited`;
  return `answer with transaction id ${stray.got} ${waited}: the device (or a TCP gateway in front of it) answers out of step (an id it does not copy from the request, an answer to an older request, or another master's answer); no answer to this request came`;
}

/** What bytes that are no Modbus TCP frame say, in the plant's words: what came, the likely cause and the fix. */
export function notModbusText(endpoint: string, f: ForeignAnswer): string {
  const text = f.head.toString('latin1');
  // Shown as text when it reads as text (a web server's status line), else in hex.
  const printable = [...text].filter((ch) => ch >= ' ' && ch <= '~').length >= text.length * 0.8;
  const line = text.split(/[\r\n]/)[0] ?? '';
  // Binary: in hex, with the text it starts with when it does (an OPC UA server's "ERRF").
  const lead = /^[ -~]{3,}/.exec(text)?.[0];
  const hex = f.head.subarray(0, 16).toString('hex').replace(/(..)/g, '$1 ').trim();
  const shown = printable ? `"${(line || text).replace(/[^ -~]+/g, ' ').trim()}"` : `${hex}${lead ? ` ("${lead}")` : ''}`;
  return (
    `the answer is not Modbus TCP (its header's protocol id is 0x${f.protocolId.toString(16).padStart(4, '0')}, not 0; it begins ${shown}): ` +
    `another service listens at ${endpoint} (a web server, OPC UA, a PLC's own protocol); check the port (502 by default) and that the device speaks Modbus TCP there`
  );
}
