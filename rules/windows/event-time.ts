// Event time: what a timestamp is (toTimestamp), and, with a lateness bound, the events the
// watermark has not passed yet, in event-time order (EventOrder). The runner feeds them to the
// windows once the watermark passes them, so sessions, sliding windows, count windows and
// first()/last() see the events in time order, as in Azure Stream Analytics (out-of-order
// tolerance) and eKuiper (event-time windows sort their events). Without it an event 10 s out of
// order joined a session that started after it (window_start() after the event) and a sliding
// window counted events later than its end.
import type { Message } from '../../core/message.js';
import { numeric, type Value } from '../sql/values.js';

/**
 * The largest event time, in epoch ms: a Date's range (year 275760). Beyond it a number is not a
 * time, and window arithmetic loses the millisecond (1e20 - 5000 === 1e20: a hopping window's
 * start never moved and one event hung the gateway).
 */
const MAX_EVENT_TIME = 8.64e15;

/**
 * ISO-8601 as the docs say: a date, an optional time (T or a space), an optional zone (Z, +09:00,
 * +0900). Date.parse alone also took whatever V8's legacy parser makes a date of: 'hello 1' was
 * 2001-01-01 and 'foo 2024' 2024-01-01 in the gateway's time zone (late, or moving the watermark,
 * instead of an invalid timestamp), and '2024-02-30' was 1 March.
 */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** A date and time without a zone is UTC, as in the SQL time functions and Azure Stream Analytics. */
function parseTime(s: string): number {
  const m = ISO.exec(s.trim());
  if (!m) return NaN;
  const [, y, mo, d, time, zone] = m;
  // A day the month does not have (2024-02-30) is not a date.
  if (new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).getUTCDate() !== Number(d)) return NaN;
  const z = zone === undefined || zone === 'z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  return Date.parse(`${y}-${mo}-${d}T${time ?? '00:00'}${z}`);
}

export function toTimestamp(v: Value): number | undefined {
  const x = numeric(v);
  let n: number | undefined;
  if (x !== undefined) n = x;
  else if (typeof v === 'string') n = v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : parseTime(v);
  return n !== undefined && Math.abs(n) <= MAX_EVENT_TIME ? n : undefined;
}

/** One event waiting for the watermark: its time, group key, aggregate arguments and message. */
export interface PendingEvent {
  ts: number;
  key: string;
  vals: Value[];
  msg: Message;
}

export class EventOrder {
  /** Sorted by ts from `head` on; events with the same ts keep their arrival order. */
  private items: PendingEvent[] = [];
  /** Index of the oldest waiting event (those before it were fed: no O(n) shift per event). */
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  insert(e: PendingEvent): void {
    const a = this.items;
    // Events mostly arrive in order: search from the end.
    let i = a.length;
    while (i > this.head && a[i - 1]!.ts > e.ts) i--;
    if (i === a.length) a.push(e);
    else a.splice(i, 0, e);
  }

  /** The oldest event if its time is <= t (or any time when t is undefined), removed. */
  shift(t?: number): PendingEvent | undefined {
    const first = this.items[this.head];
    if (!first || (t !== undefined && first.ts > t)) return undefined;
    this.items[this.head++] = undefined as unknown as PendingEvent; // released for the GC
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return first;
  }

  all(): readonly PendingEvent[] {
    return this.items.slice(this.head);
  }

  replace(items: readonly PendingEvent[]): void {
    this.items = items.slice().sort((x, y) => x.ts - y.ts);
    this.head = 0;
  }
}
