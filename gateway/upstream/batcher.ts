// The exporter's in-memory window over its stream: the undelivered records read past the
// checkpoint, in sequence order (delivered ones are dropped from it at once: only the first
// undelivered record's sequence moves the checkpoint). Bounded by the window (window.ts reads while
// it holds less than two batches of new records and a bounded number of held ones), so it never
// grows with the backlog.
import { performance } from 'node:perf_hooks';
import type { StoredRecord } from '../store/types.js';

export interface Entry {
  rec: StoredRecord;
  /** Payload bytes (what limits and bandwidth count). */
  bytes: number;
  /** Sends that failed for this record. */
  attempts: number;
  /** Delivered or dead-lettered: the checkpoint may pass it. */
  done: boolean;
  /** Set when the record must go to the dead-letter stream (the append may still be pending). */
  deadError: string | undefined;
  /** performance.now() when the exporter read it (linger starts here at the latest). */
  seenAt: number;
  /** Records the destination had accepted in all (ExportOutcomes.exportedRecords) when this one last
   * failed; -1 before its first failure. Evidence against the record = accepted records since. */
  mark: number;
  /** Failed alone with a record-level error (HTTP 500): it goes alone from now on, and only once the
   * destination has accepted other records since its last failure (outcomes.ts). */
  parked: boolean;
  /** performance.now() before which a parked record is not tried again: its own backoff after a
   * counted failure (outcomes.ts), so that the records behind it go on meanwhile. 0: no wait. */
  notBefore: number;
  /** Sends in a row that throttled it (code THROTTLED: nothing against the record) at a destination
   * that rebatches (Destination.rebatch): it is held in the window on a backoff of its own
   * (notBefore) and joins later batches beside new records, never queued as a retry of its send
   * alone (outcomes.ts). 0: not held. */
  held: number;
}

export function newEntry(rec: StoredRecord, seenAt: number): Entry {
  return { rec, bytes: rec.payload.length, attempts: 0, done: false, deadError: undefined, seenAt, mark: -1, parked: false, notBefore: 0, held: 0 };
}

/** Held (throttled, rebatched) and not parked: what the window's held bound counts. */
export function isHeld(e: Entry): boolean {
  return e.held > 0 && !e.parked && !e.done && e.deadError === undefined;
}

export interface BatchLimits {
  maxRecords: number;
  maxBytes: number;
}

/**
 * Fill `out` with the next batch: undelivered entries in order (skipping done ones and pending
 * dead letters), up to maxRecords and maxBytes. The first entry is always taken even if alone it
 * exceeds maxBytes (records over the destination's per-record limit never get here: they are
 * dead-lettered first). Returns true when the batch is full (count or bytes reached, or a record
 * was left out for lack of room), i.e. lingering for more records is pointless.
 *
 * Parked entries (outcomes.ts) go alone. `accepted` is the destination's count of accepted records:
 * a parked entry with accepted records since its last failure (the evidence its next failure needs)
 * is a batch of its own once its own backoff is over (notBefore); one still waiting for that
 * evidence or that time is skipped, and the records after it go one per batch (probes: few records
 * read ahead of a stuck checkpoint, each accepted one is evidence). When only waiting entries are
 * left, the oldest whose backoff is over goes (a storm ends when it is accepted); none while every
 * one is within its backoff (the loop sleeps until parkedDueAt, or until new records arrive).
 *
 * Held entries (throttled at a destination that rebatches) go once their own backoff is over, in
 * order with the others, but at most half a batch of them while new records are waiting to fill
 * the rest: a failing Kinesis shard's records never crowd the other shards' out of the batches.
 */
export function takeBatch(window: readonly Entry[], limits: BatchLimits, out: Entry[], accepted = 0, now = performance.now()): boolean {
  out.length = 0;
  const heldMax = heldShare(window, limits.maxRecords);
  let held = 0;
  let bytes = 0;
  let waiting: Entry | undefined;
  /** The oldest waiting entry whose backoff is over. */
  let due: Entry | undefined;
  for (let i = 0; i < window.length; i++) {
    const e = window[i]!;
    if (e.done || e.deadError !== undefined) continue;
    if (e.parked) {
      if (e.mark >= accepted || e.notBefore > now) {
        waiting ??= e;
        if (e.notBefore <= now) due ??= e;
        continue;
      }
      if (out.length === 0) out.push(e);
      return true;
    }
    // Within its own backoff, or its share of the batch taken: the records behind it go.
    if (e.held > 0 && (e.notBefore > now || held >= heldMax)) continue;
    if (out.length >= limits.maxRecords) return true;
    if (out.length > 0 && (waiting !== undefined || bytes + e.bytes > limits.maxBytes)) return true;
    if (e.held > 0) held++;
    bytes += e.bytes;
    out.push(e);
  }
  if (out.length === 0 && due !== undefined) out.push(due);
  return waiting !== undefined || out.length >= limits.maxRecords || bytes >= limits.maxBytes;
}

/** How many held entries a batch takes: half of it, or more when fewer new records can fill the rest. */
function heldShare(window: readonly Entry[], maxRecords: number): number {
  let held = 0;
  let fresh = 0;
  for (const e of window) {
    if (e.done || e.deadError !== undefined || e.parked) continue;
    if (e.held > 0) held++;
    else if (++fresh >= maxRecords) break;
  }
  if (held === 0) return 0;
  return Math.max(Math.ceil(maxRecords / 2), maxRecords - fresh);
}

/**
 * When the first parked or held entry's own backoff ends (performance.now() ms), or undefined when
 * no entry is parked or held. Called after takeBatch() found nothing to send, so every parked entry was within its
 * backoff then; a backoff that has ended since (time passes between the two calls) still counts,
 * as a time in the past: the loop must wake for it, not wait for new records that may never come.
 */
export function parkedDueAt(window: readonly Entry[]): number | undefined {
  let at: number | undefined;
  for (const e of window) if ((e.parked || e.held > 0) && !e.done && e.deadError === undefined && (at === undefined || e.notBefore < at)) at = e.notBefore;
  return at;
}

/** Entries parked and not yet delivered or dead-lettered (status(); while any, the loop's failure
 * streak lasts across the accepted probes between their tries). */
export function parkedCount(window: readonly Entry[]): number {
  let n = 0;
  for (const e of window) if (e.parked && !e.done) n++;
  return n;
}

/** Count and bytes of entries not yet done (the window bound), and of the held ones among them. */
export function pendingLoad(window: readonly Entry[]): { records: number; bytes: number; heldRecords: number; heldBytes: number } {
  let records = 0;
  let bytes = 0;
  let heldRecords = 0;
  let heldBytes = 0;
  for (const e of window) {
    if (!e.done) {
      records++;
      bytes += e.bytes;
      if (isHeld(e)) {
        heldRecords++;
        heldBytes += e.bytes;
      }
    }
  }
  return { records, bytes, heldRecords, heldBytes };
}
