// Giving back the disk space of deleted records. LevelDB deletes by writing tombstones: a deleted
// record's data stays in its table file until a compaction merges the tombstone with it at the level
// that holds it. Records that stay a while (a backlog behind a down exporter, a drop-oldest or ttl
// stream) reach the lower levels (L2: 100 MiB, L3: 1 GiB), and the tombstones, a few bytes per
// deleted segment, almost never push a compaction down there: measured before this, a drop-oldest
// stream of maxBytes 64 MiB took 626 MiB of disk after 600 MiB were published, and a 500 MiB backlog
// exported and deleted kept ~390 MiB for good (docs/store.md, "Disk space").
//
// So the store compacts each stream's deleted range itself: the keys below its oldest held segment,
// which are all deleted. How much of it is still on disk is LevelDB's own estimate of the range's
// table bytes (approximateSize, no I/O); a compaction of a deleted range reads it and writes next to
// nothing (the tables at its edges that also hold live records). It runs when
//   - the deletes of a stream since its last check reach half of compactAt(maxBytes) and the range
//     then holds at least compactAt(maxBytes) on disk (a quarter of maxBytes, 1 to 64 MiB): a
//     stream's disk stays within about 1.25 x maxBytes plus LevelDB's log and level-0 tables;
//   - at every sweep tick (sweepIntervalMs, 60 s) for a stream with deletes since its last
//     compaction, and once after open for every stream, when the range holds at least 4 MiB: what an
//     exporter drained is given back within a minute of its delete, what a previous run left at start.
// One compaction at a time, in chunks of at most 64 MiB of dead data, so close() waits for one chunk.
// LevelDB deletes the tables a compaction made obsolete only when no iterator (a reader's snapshot)
// still holds them, and looks again only after its next flush or compaction: a reader open during
// the compaction (an exporter draining the backlog) kept them, and a store refusing appends on a
// full disk writes too little to flush. So after a compaction every tick flushes LevelDB's memtable
// (a compactRange of an empty key range), which deletes them, as long as deletes go on (readers are
// about) and for two ticks after the last one.
import type { Logger } from 'pino';
import { approximateSize, compactRange, type Db } from './database.js';
import { readU64, seqKey } from './codec.js';
import type { StoreMetrics } from './metrics.js';
import type { StreamState } from './state.js';

const MiB = 1024 * 1024;

/** Dead bytes on disk at which a stream's deleted range is compacted at once: a quarter of maxBytes, 1 to 64 MiB. */
export function compactAt(maxBytes: number): number {
  return Math.min(64 * MiB, Math.max(MiB, Math.floor(maxBytes / 4)));
}

/** Dead bytes the periodic check (and the one after open) gives back: about a memtable's worth. */
export const TICK_COMPACT_AT = 4 * MiB;
/** Dead bytes compacted per compactRange call (close() waits for at most one). */
const CHUNK_BYTES = 64 * MiB;

export class Compactor {
  /** Streams to check, with the dead bytes at which to compact. */
  private readonly queue = new Map<StreamState, number>();
  /**
   * Requests found while the store could not run them (reopening after a failed write, or not yet
   * writable again), asked again at the next tick. The one after a reopen is such a request: made
   * as the reopen ends, before the disk guard says writable.
   */
  private readonly deferred = new Map<StreamState, number>();
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Ticks that will still flush, to delete tables a reader held during the last compaction. */
  private flushes = 0;
  private flushRequested = false;
  /** Whether records were deleted since the last tick. */
  private deletesSinceTick = false;
  /** Whether the current run issued a compactRange (a compaction or a flush). */
  private worked = false;

  constructor(
    private readonly db: () => Db,
    private readonly log: Logger,
    /** False while the store is not open or a failed write made it unwritable (LevelDB refuses compactions too). */
    private readonly canRun: () => boolean,
    private readonly metrics: Pick<StoreMetrics, 'compactions' | 'compactedBytes'>,
    /**
     * After a run that compacted or flushed: LevelDB gives no status for either, and one that failed
     * (a full disk) leaves the database refusing writes, so the store checks with a write (write-check.ts).
     */
    private readonly afterWork: () => void = () => undefined,
  ) {}

  /** After the deletes of physBytes (record bytes) of s were written. */
  deleted(s: StreamState, physBytes: number): void {
    if (physBytes <= 0 || this.stopped) return;
    this.deletesSinceTick = true;
    s.deletedSinceCompaction += physBytes;
    s.deletedSinceCheck += physBytes;
    const at = compactAt(s.options?.maxBytes ?? 256 * MiB);
    if (s.deletedSinceCheck >= at / 2) {
      s.deletedSinceCheck = 0;
      this.request(s, at);
    }
  }

  /**
   * After a stream holding physBytes of records was dropped (drop.ts): the periodic check no longer
   * sees it (it left the store's streams), so its range is queued now, as a tick would.
   */
  dropped(s: StreamState, physBytes: number): void {
    if (physBytes <= 0 || this.stopped) return;
    this.deletesSinceTick = true;
    s.deletedSinceCompaction += physBytes;
    this.request(s, TICK_COMPACT_AT);
  }

  /** The periodic check (all: after open, every stream; else those with deletes since their last compaction). */
  tick(streams: Iterable<StreamState>, all = false): void {
    for (const [s, min] of this.deferred) this.request(s, min);
    this.deferred.clear();
    for (const s of streams) if (all || s.deletedSinceCompaction > 0) this.request(s, TICK_COMPACT_AT);
    if (this.deletesSinceTick && this.flushes > 0) this.flushes = 2;
    this.deletesSinceTick = false;
    if (this.flushes > 0 && !this.stopped) {
      this.flushes--;
      this.flushRequested = true;
      this.kick();
    }
  }

  /** Resolves when no check or compaction is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No new work; resolves once the chunk in flight (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    this.deferred.clear();
    await this.idle();
  }

  private request(s: StreamState, min: number): void {
    if (this.stopped) return;
    const queued = this.queue.get(s);
    this.queue.set(s, queued === undefined ? min : Math.min(queued, min));
    this.kick();
  }

  /**
   * Start run() unless it runs. A request made after run()'s last look at the queue but before its
   * promise settled (another microtask in between) finds it still running: the settle starts it
   * again for that work, instead of leaving it to the next tick or delete.
   */
  private kick(): void {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
      // flushRequested stays set while the store cannot run: the next tick retries it, not a loop here.
      if (!this.stopped && (this.queue.size > 0 || (this.flushRequested && this.canRun()))) this.kick();
    });
  }

  private async run(): Promise<void> {
    this.worked = false;
    try {
      await this.work();
    } finally {
      if (this.worked) this.afterWork();
    }
  }

  private async work(): Promise<void> {
    if (this.flushRequested && this.canRun()) {
      this.flushRequested = false;
      this.worked = true;
      try {
        // No key sorts at or after 0xff: LevelDB flushes its memtable, compacts nothing, and deletes its obsolete tables.
        await compactRange(this.db(), Buffer.from([0xff]), Buffer.from([0xff, 0xff]));
      } catch (err) {
        this.log.warn({ err }, 'could not flush the store after a compaction; retried after the next one');
      }
    }
    for (const [s, min] of this.queue) {
      this.queue.delete(s);
      if (this.stopped) return;
      if (!this.canRun()) {
        const had = this.deferred.get(s);
        this.deferred.set(s, had === undefined ? min : Math.min(had, min));
        continue;
      }
      try {
        await this.compact(s, min);
      } catch (err) {
        // Not fatal: the space stays taken until the next check. A failed write is the disk guard's.
        this.log.warn({ err, stream: s.name }, 'could not compact the deleted records of a stream; retried at the next sweep');
      }
    }
  }

  /** Compact s's deleted range if it holds at least `min` bytes on disk. */
  private async compact(s: StreamState, min: number): Promise<void> {
    const db = this.db();
    const start = seqKey(s.prefix, 0);
    // Every key below the oldest held segment is deleted; with nothing held, the whole range is.
    const end = s.headSeq > 0 ? seqKey(s.prefix, s.headSeq) : s.end;
    const endSeq = s.headSeq > 0 ? s.headSeq : s.lastSeq + 1;
    const deleted = s.deletedSinceCompaction;
    let dead = await approximateSize(db, start, end);
    if (dead < min) {
      if (min <= TICK_COMPACT_AT) s.deletedSinceCompaction = Math.max(0, s.deletedSinceCompaction - deleted);
      return;
    }
    const before = dead;
    const t0 = performance.now();
    let from = start;
    let chunks = 0;
    while (dead > 0 && !this.stopped && this.canRun()) {
      const to = dead > CHUNK_BYTES ? await chunkEnd(db, s.prefix, from, endSeq, end, CHUNK_BYTES) : end;
      this.worked = true;
      await compactRange(db, from, to);
      chunks++;
      from = to;
      if (from.equals(end)) break;
      dead = await approximateSize(db, from, end);
    }
    const after = await approximateSize(db, start, end);
    s.deletedSinceCompaction = Math.max(0, s.deletedSinceCompaction - deleted);
    s.deletedSinceCheck = 0;
    const freed = Math.max(0, before - after);
    this.flushes = 2;
    this.metrics.compactions.inc();
    this.metrics.compactedBytes.inc(freed);
    this.log.debug(
      { stream: s.name, deadBytes: before, freedBytes: freed, chunks, ms: Math.round(performance.now() - t0) },
      'compacted the deleted records of a stream',
    );
  }
}

/**
 * The end of a chunk from `from` (a key `prefix + seq`): the key `prefix + seq` up to which about
 * `bytes` are on disk (bisection over sequence numbers below endSeq with approximateSize), at least
 * one sequence past `from`; `end` when no sequence is left between them.
 */
async function chunkEnd(db: Db, prefix: Buffer, from: Buffer, endSeq: number, end: Buffer, bytes: number): Promise<Buffer> {
  const fromSeq = readU64(from, prefix.length);
  let lo = fromSeq + 1;
  let hi = endSeq - 1;
  if (lo > hi) return end;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if ((await approximateSize(db, from, seqKey(prefix, mid))) <= bytes) lo = mid;
    else hi = mid - 1;
  }
  return seqKey(prefix, lo);
}
