// Recently read segment values of one stream, so a sequential reader (an exporter) does not fetch
// and re-walk the same segment for every batch: a commit batch of 5,000 records is one ~1 MiB
// segment, and reading it 500 records at a time used to copy it out of LevelDB ten times and walk
// its first records up to ten times. Each entry keeps a cursor (the record where the last read
// stopped) so the next read resumes there. Segment values never change once written and sequence
// numbers never repeat, so entries never go stale; they are dropped when reclaim deletes their
// segment, and the oldest go first when the byte bound is reached.
import { SEG_HEADER, type SegmentCursor } from './codec.js';

export interface CachedSegment {
  firstSeq: number;
  count: number;
  value: Buffer;
  /** Where the last decode of this segment stopped (the next record to read). */
  cur: SegmentCursor;
}

/**
 * Default byte bound per stream. Reclaim drops segments behind every checkpoint, so with an
 * exporter the cache holds about its read-ahead window; the bound matters only for big segments.
 */
export const READ_CACHE_BYTES = 4 * 1024 * 1024;

/** At most this many entries, whatever their size (bounds the array work of small segments). */
const MAX_ENTRIES = 512;

export class SegmentCache {
  /** Sorted by firstSeq (segments never overlap). */
  private readonly entries: CachedSegment[] = [];
  private held = 0;

  /** Byte bound of the values held; 0 disables the cache. */
  constructor(public maxBytes = READ_CACHE_BYTES) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Index of the last entry with firstSeq <= seq, or -1. */
  private floor(seq: number): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as CachedSegment).firstSeq <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The cached segment holding seq, if any. */
  find(seq: number): CachedSegment | undefined {
    const i = this.floor(seq);
    if (i < 0) return undefined;
    const e = this.entries[i] as CachedSegment;
    return seq < e.firstSeq + e.count ? e : undefined;
  }

  /**
   * An entry for a segment just read from the database: cached when the bound allows (the oldest
   * entries are evicted to make room, never the new one), returned either way so its cursor works.
   */
  add(firstSeq: number, count: number, value: Buffer): CachedSegment {
    const e: CachedSegment = { firstSeq, count, value, cur: { seq: firstSeq, off: SEG_HEADER } };
    if (this.maxBytes <= 0) return e;
    const i = this.floor(firstSeq);
    const at = i + 1;
    if (i >= 0 && (this.entries[i] as CachedSegment).firstSeq === firstSeq) {
      this.held -= (this.entries[i] as CachedSegment).value.length;
      this.entries[i] = e;
    } else this.entries.splice(at, 0, e);
    this.held += value.length;
    while ((this.held > this.maxBytes || this.entries.length > MAX_ENTRIES) && this.entries.length > 1) {
      const victim = this.entries[0] === e ? 1 : 0;
      this.held -= (this.entries[victim] as CachedSegment).value.length;
      this.entries.splice(victim, 1);
    }
    return e;
  }

  /** Forget the segment starting at firstSeq (e.g. it did not decode). */
  remove(firstSeq: number): void {
    const i = this.floor(firstSeq);
    if (i >= 0 && (this.entries[i] as CachedSegment).firstSeq === firstSeq) {
      this.held -= (this.entries[i] as CachedSegment).value.length;
      this.entries.splice(i, 1);
    }
  }

  /** Drop the entries of segments starting before seq (they were deleted by reclaim/retention). */
  dropBefore(seq: number): void {
    let n = 0;
    while (n < this.entries.length && (this.entries[n] as CachedSegment).firstSeq < seq) {
      this.held -= (this.entries[n] as CachedSegment).value.length;
      n++;
    }
    if (n > 0) this.entries.splice(0, n);
  }

  clear(): void {
    this.entries.length = 0;
    this.held = 0;
  }
}
