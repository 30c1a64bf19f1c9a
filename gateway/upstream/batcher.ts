// The exporter's in-memory window over its stream: records read but not yet behind the
// checkpoint, in sequence order. Bounded by the exporter (it reads only while the window is
// smaller than about one batch of undelivered records), so it never grows with the backlog.
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
}

export function newEntry(rec: StoredRecord, seenAt: number): Entry {
  return { rec, bytes: rec.payload.length, attempts: 0, done: false, deadError: undefined, seenAt };
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
 */
export function takeBatch(window: readonly Entry[], limits: BatchLimits, out: Entry[]): boolean {
  out.length = 0;
  let bytes = 0;
  for (let i = 0; i < window.length; i++) {
    const e = window[i]!;
    if (e.done || e.deadError !== undefined) continue;
    if (out.length >= limits.maxRecords) return true;
    if (out.length > 0 && bytes + e.bytes > limits.maxBytes) return true;
    bytes += e.bytes;
    out.push(e);
  }
  return out.length >= limits.maxRecords || bytes >= limits.maxBytes;
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
