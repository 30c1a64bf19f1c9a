// Answers that match no request in flight, on Modbus TCP. modbus-serial pairs an answer with its
// request by the MBAP transaction id and drops one with another id without a word: a device or a
// TCP gateway that does not copy the request's id (or another master's answers on the connection)
// made every request a plain timeout, as if nothing had answered. This watches the library's port
// (its internals, read only) so that a request that times out while such an answer came is
// reported as what it is (link.ts: error kind 'out-of-step'). The late answer of one of the last
// requests that timed out (a slow device) is not one: that request stays a timeout. With a
// modbus-serial whose internals differ, nothing is watched and such a request stays a timeout.
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';

/** modbus-serial's TCP port: it sets the id it read before it emits an answer, and holds the id of the next request. */
interface Internals {
  _port?: { prependListener?: (event: 'data', fn: () => void) => unknown; _transactionIdRead?: unknown; _transactionIdWrite?: unknown };
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

  constructor(client: ModbusRTU) {
    const c = client as unknown as Internals;
    const port = c._port;
    this.port = port;
    if (typeof port?.prependListener !== 'function') return;
    // The library keeps every request it sent (by id, reused after 256), answered or not: which
    // answers are expected is kept here.
    port.prependListener('data', () => {
      const id = port._transactionIdRead;
      if (typeof id !== 'number' || this.waiting.has(id) || this.late.includes(id)) return;
      this.count++;
      this.last = id;
    });
  }

  /** Just before a request is sent: since() then tells whether a stray answer came while it waited. */
  begin(): StrayMark {
    const sent = this.port?._transactionIdWrite;
    if (typeof sent !== 'number') return { count: this.count, sent: undefined };
    this.late = this.late.filter((id) => id !== sent);
    this.waiting.add(sent);
    return { count: this.count, sent };
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
