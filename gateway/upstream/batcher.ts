// The exporter's in-memory window over its stream: records read but not yet behind the
// checkpoint, in sequence order. Bounded by the exporter (it reads only while the window is
// smaller than about one batch of undelivered records), so it never grows with the backlog.
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
}

export function newEntry(rec: StoredRecord, seenAt: number): Entry {
  return { rec, bytes: rec.payload.length, attempts: 0, done: false, deadError: undefined, seenAt, mark: -1, parked: false, notBefore: 0 };
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
 */
export function takeBatch(window: readonly Entry[], limits: BatchLimits, out: Entry[], accepted = 0, now = performance.now()): boolean {
  out.length = 0;
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
    if (out.length >= limits.maxRecords) return true;
    if (out.length > 0 && (waiting !== undefined || bytes + e.bytes > limits.maxBytes)) return true;
    bytes += e.bytes;
    out.push(e);
  }
  if (out.length === 0 && due !== undefined) out.push(due);
  return waiting !== undefined || out.length >= limits.maxRecords || bytes >= limits.maxBytes;
}

/**
 * When the first parked entry's own backoff ends (performance.now() ms), or undefined when no entry
 * is parked. Called after takeBatch() found nothing to send, so every parked entry was within its
 * backoff then; a backoff that has ended since (time passes between the two calls) still counts,
 * as a time in the past: the loop must wake for it, not wait for new records that may never come.
 */
export function parkedDueAt(window: readonly Entry[]): number | undefined {
  let at: number | undefined;
  for (const e of window) if (e.parked && !e.done && e.deadError === undefined && (at === undefined || e.notBefore < at)) at = e.notBefore;
  return at;
}

/** Entries parked and not yet delivered or dead-lettered (status(); while any, the loop's failure
 * streak lasts across the accepted probes between their tries). */
export function parkedCount(window: readonly Entry[]): number {
  let n = 0;
  for (const e of window) if (e.parked && !e.done) n++;
  return n;
}

/** Count and bytes of entries not yet done (the window bound). */
export function pendingLoad(window: readonly Entry[]): { records: number; bytes: number } {
  let records = 0;
  let bytes = 0;
  for (const e of window) {
    if (!e.done) {
      records++;
      bytes += e.bytes;
    }
  }
  return { records, bytes };
}
