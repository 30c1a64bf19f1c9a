// In-memory state of one stream: counters rebuilt from segment keys on open, the pending group
// commit batch, and the appends waiting for space or for a sequence.
import { prefixEnd, streamPrefix } from './codec.js';
import { SegmentCache } from './segment-cache.js';
import { tallyKey } from './tally.js';
import type { AppendRecord, StreamOptions } from './types.js';

export type Resolve = (seq: number) => void;
export type Reject = (err: unknown) => void;

/** Records of one stream waiting for the next commit (one segment). */
export interface PendingBatch {
  recs: AppendRecord[];
  resolves: Resolve[];
  rejects: Reject[];
  /** Encoded size of recs (segment value minus header). */
  encoded: number;
  /** Accounted bytes of recs. */
  bytes: number;
  minAt: number;
  maxAt: number;
}

export function newBatch(): PendingBatch {
  return { recs: [], resolves: [], rejects: [], encoded: 0, bytes: 0, minAt: Infinity, maxAt: -Infinity };
}

/** An append held back: by a full 'reject' stream, or by the bound of the commit queue. */
export interface WaitingAppend {
  stream: StreamState;
  rec: AppendRecord;
  bytes: number;
  encoded: number;
  resolve: Resolve;
  reject: Reject;
  timer: NodeJS.Timeout | undefined;
  /** Submission order among all appends (a commitMeta after it must not be written before it). */
  ticket: number;
}

export interface SeqWaiter {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A labelled counter child (prom-client's Counter.Internal). */
export interface Inc {
  inc(value?: number): void;
}

export interface StreamCounters {
  appended: Inc;
  droppedFull: Inc;
  droppedTtl: Inc;
  rejected: Inc;
}

export class StreamState {
  readonly prefix: Buffer;
  readonly end: Buffer;
  /** Key of its tally (tally.ts), made once: every commit writes it. */
  readonly tallyKey: Buffer;
  options: StreamOptions | undefined;
  /** Last committed sequence (0 = none). */
  lastSeq = 0;
  /**
   * Defined afresh after a stream was dropped: the store's drop floor (drop.ts), which lastSeq
   * starts at and a new consumer's checkpoint too (nothing below it was ever this stream's). 0 otherwise.
   */
  seqBase = 0;
  /** Sums over the segments physically held. */
  physRecords = 0;
  physBytes = 0;
  /** firstSeq of the oldest segment held (0 = none). */
  headSeq = 0;
  /** firstSeq of the newest segment held (0 = none): with headSeq, what its tally is checked against (tally.ts). */
  lastSegSeq = 0;
  /** Record bytes appended since its tally was last written (store.tallyEveryBytes). */
  untalliedBytes = 0;
  /**
   * Records of the head segment already behind every checkpoint: counted out of records/bytes
   * at once, though the segment is only deleted when all of its records are.
   */
  headSkipCount = 0;
  headSkipBytes = 0;
  /** minAt of the head segment (receivedAt is near-monotonic: the oldest held, to a batch). */
  oldestAt: number | undefined = undefined;
  readonly consumers = new Map<string, number>();
  droppedRecords = 0;
  rejectedAppends = 0;
  pend: PendingBatch | undefined = undefined;
  /** Accounted bytes pending or in flight (admitted, not yet committed). */
  reserved = 0;
  readonly fullWaiters: WaitingAppend[] = [];
  readonly seqWaiters: SeqWaiter[] = [];
  counters: StreamCounters | undefined = undefined;
  /** Record bytes of segments deleted since the deleted range was last compacted (compaction.ts). */
  deletedSinceCompaction = 0;
  /** Record bytes of segments deleted since the last check of the deleted range's size on disk. */
  deletedSinceCheck = 0;
  /** Recently read segments (sequential reads resume in them); bound set by the store. */
  readonly cache = new SegmentCache();

  constructor(readonly name: string) {
    this.prefix = streamPrefix(name);
    this.end = prefixEnd(this.prefix);
    this.tallyKey = tallyKey(name);
  }

  get records(): number {
    return this.physRecords - this.headSkipCount;
  }

  get bytes(): number {
    return this.physBytes - this.headSkipBytes;
  }

  get firstSeq(): number {
    return this.records === 0 ? this.lastSeq + 1 : this.headSeq + this.headSkipCount;
  }

  /** Minimum checkpoint of the registered consumers, or undefined without consumers. */
  minCheckpoint(): number | undefined {
    let min: number | undefined;
    for (const ck of this.consumers.values()) if (min === undefined || ck < min) min = ck;
    return min;
  }

  /** Resolve the waitFor calls the committed lastSeq satisfies. */
  wakeSeq(): void {
    const keep: SeqWaiter[] = [];
    for (const w of this.seqWaiters) {
      if (w.seq <= this.lastSeq) {
        if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
        w.resolve();
      } else keep.push(w);
    }
    this.seqWaiters.length = 0;
    this.seqWaiters.push(...keep);
  }

  /**
   * Take what a rescan of the disk found (reopen: `scan` was filled by scanStreams; undefined when
   * no key of this stream is left), in one synchronous step so that no reader ever sees the stream
   * half rebuilt. lastSeq never goes back; the head skip is recomputed by the reclaim that follows.
   */
  adoptScan(scan: StreamState | undefined): void {
    this.physRecords = scan ? scan.physRecords : 0;
    this.physBytes = scan ? scan.physBytes : 0;
    this.headSeq = scan ? scan.headSeq : 0;
    this.lastSegSeq = scan ? scan.lastSegSeq : 0;
    this.untalliedBytes = scan ? scan.untalliedBytes : 0;
    this.headSkipCount = 0;
    this.headSkipBytes = 0;
    this.oldestAt = scan?.oldestAt;
    if (scan) {
      if (scan.lastSeq > this.lastSeq) this.lastSeq = scan.lastSeq;
      for (const [consumer, checkpoint] of scan.consumers) this.consumers.set(consumer, checkpoint);
    }
    this.cache.clear();
  }

  /** Whether a record of `bytes` fits under maxBytes now (reject mode). */
  fits(bytes: number): boolean {
    const max = this.options ? this.options.maxBytes : Infinity;
    return this.bytes + this.reserved + bytes <= max;
  }
}
