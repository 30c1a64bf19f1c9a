// The exporter's window over its stream, read side: the undelivered records read past the
// checkpoint, in sequence order, and the next sequence to read. It reads ahead at most two batches
// of new records (plus, at a destination that rebatches, a bounded number of held ones:
// throttled records waiting to join later batches), marks records over the destination's
// per-record limit for the dead-letter stream, and sleeps on the store until more records arrive
// (never polls). Delivered records are dropped from it at once, wherever they are: only the first
// undelivered one's sequence is needed to move the checkpoint. A read that does not continue at the
// next sequence (records retention dropped, records the store cannot return) goes to
// read-gaps.ts, which skips only what is provably gone and otherwise holds the position
// (`stalled`: the exporter backs off). Batches are cut by batcher.ts, results applied by
// outcomes.ts.
import { performance } from 'node:perf_hooks';
import type { LocalStreams } from '../store/types.js';
import { newEntry, parkedCount, pendingLoad, type BatchLimits, type Entry } from './batcher.js';
import type { ReadGaps } from './read-gaps.js';

export interface StreamWindowDeps {
  streams: LocalStreams;
  stream: string;
  /** The exporter's batch limits: the window reads ahead two batches. */
  limits: BatchLimits;
  /** The exporter's maxAttempts: room for the single-record probes sent past a parked record. */
  maxAttempts: number;
  /** The destination's limit of one record, and its kind (for the dead-letter error). */
  maxRecordBytes: number;
  destKind: string;
  /** A record over maxRecordBytes was read (a permanent error, for the metrics). */
  onOversize: () => void;
  /** Reads that do not continue at nextReadSeq. */
  gaps: ReadGaps;
  /** The destination rebatches held records (Destination.rebatch): the window may read further
   * past a record it holds (SPAN_BATCHES). */
  rebatch: boolean;
}

/**
 * How far past the first undelivered record a window of a destination that rebatches reads, in
 * batches (the records in between are delivered: they cost nothing in memory). A kill -9 resends
 * at most this many delivered records; past it the window reads nothing more, and only held
 * records go, until the first of them is delivered.
 */
export const SPAN_BATCHES = 64;

/**
 * How many held records (throttled, waiting to join later batches) the window keeps, in batches
 * (batch.maxRecords); their payload bytes are bounded by 2 batches (batch.maxBytes). While one
 * shard of n fails, the others' records keep flowing for about HELD_BATCHES * n batches (or
 * SPAN_BATCHES, the lower), then only the held records go until the shard takes them.
 */
export const HELD_BATCHES = 16;

export class StreamWindow {
  /** Records read and not yet behind the checkpoint. */
  entries: Entry[] = [];
  /** The next sequence to read. */
  nextReadSeq = 1;

  constructor(private readonly d: StreamWindowDeps) {}

  /** The store counts records at nextReadSeq that it does not return: the position is held (read-gaps.ts). */
  get stalled(): boolean {
    return this.d.gaps.stall !== undefined;
  }

  /** Sequences from the first undelivered record read to the next one to read: the delivered
   * records among them are the ones a restart would resend. */
  get span(): number {
    return this.entries.length === 0 ? 0 : this.nextReadSeq - this.entries[0]!.rec.seq;
  }

  /** How far past its first undelivered record the window reads: a few batches, plus room for the
   * single-record probes sent past a parked record (batcher.ts); SPAN_BATCHES at a destination that
   * rebatches while no record is parked. */
  private get cap(): number {
    const { limits, maxAttempts, rebatch } = this.d;
    if (rebatch && parkedCount(this.entries) === 0) return limits.maxRecords * SPAN_BATCHES + maxAttempts;
    return limits.maxRecords * 4 + maxAttempts;
  }

  /**
   * The window has no more room than the parked records' tries need (maxAttempts probes, each the
   * evidence for all of them): their own backoff is over, they go as soon as they have evidence.
   * Else records sent while they wait could fill the window and leave none to give it: held for ever.
   */
  get nearCap(): boolean {
    return this.span >= this.cap - this.d.maxAttempts;
  }

  /** How many records and bytes fill() would read now (none: `records` <= 0 or `bytes` <= 0). */
  private want(): { records: number; bytes: number } {
    const { limits } = this.d;
    // Up to two batches of new records: the one being sent and the next (read ahead). Held records
    // (throttled, waiting to join later batches) are not among them, so a failing shard's records
    // do not stop the others' from being read; but from HELD_BATCHES of them (or two batches of
    // their bytes) on, nothing more is read: only they go, as only the failed records of a send
    // went before rebatching, and the window stays bounded (docs/upstream.md, "One failing shard").
    // Nor does a read go past the cap (span).
    const load = pendingLoad(this.entries);
    if (this.span >= this.cap) return { records: 0, bytes: 0 };
    if (this.heldFull(load)) return { records: 0, bytes: 0 };
    const records = Math.min(2 * limits.maxRecords - (load.records - load.heldRecords), this.cap - this.span);
    const bytes = 2 * limits.maxBytes - (load.bytes - load.heldBytes);
    // Parked records alone fill the two batches (two with batch.maxRecords 1, two records over
    // batch.maxBytes): one more record, a probe, whose acceptance is the evidence they wait for.
    // Without it they were resent for ever and every record behind them held. A run of parked
    // records longer than two batches (or two of the largest records) is held as a storm
    // (docs/upstream.md): what a storm parks stays bounded.
    // (Counted only when the window is full: fill() asks at every step.)
    const full = records <= 0 || bytes <= 0;
    const fewParked = load.records <= 2 * limits.maxRecords && load.bytes <= 2 * Math.max(limits.maxBytes, this.d.maxRecordBytes);
    if (full && load.records > 0 && fewParked && parkedCount(this.entries) === load.records) return { records: 1, bytes: 1 };
    return { records, bytes };
  }

  /** The held records reached their bound: HELD_BATCHES batches of them, or two batches of their bytes. */
  private heldFull(load: { heldRecords: number; heldBytes: number }): boolean {
    const { limits } = this.d;
    return load.heldRecords >= HELD_BATCHES * limits.maxRecords || load.heldBytes >= 2 * limits.maxBytes;
  }

  /**
   * Records are held and the window is at its bound (their count or bytes, or the span): nothing
   * more is read, only the held records go, and the records behind them wait in the stream until
   * the destination takes the held ones (status() heldBack: what an operator must see, since from
   * here a failing shard holds the whole stream back again and the backlog grows).
   */
  get heldBack(): boolean {
    const load = pendingLoad(this.entries);
    return load.heldRecords > 0 && (this.heldFull(load) || this.span >= this.cap);
  }

  /** fill() would read the next records if there were any. */
  get hasRoom(): boolean {
    const w = this.want();
    return w.records > 0 && w.bytes > 0;
  }

  /** Read more records while the window holds less than two batches of new records (want()). */
  async fill(): Promise<void> {
    const { streams, stream } = this.d;
    const { records: wantRecords, bytes: wantBytes } = this.want();
    if (wantRecords <= 0 || wantBytes <= 0) return;
    const pos = this.nextReadSeq;
    const recs = await streams.read(stream, pos, { limit: wantRecords, maxBytes: wantBytes });
    if (recs.length === 0) {
      this.nextReadSeq = await this.d.gaps.afterEmpty(pos);
      return;
    }
    // Per read, not per record: the records continue at pos without a hole (sequences are dense).
    const first = recs[0]!.seq;
    if (first !== pos || recs[recs.length - 1]!.seq - first + 1 !== recs.length || this.d.gaps.stall) {
      if (!(await this.d.gaps.afterRead(pos, recs))) return;
    }
    const seenAt = performance.now();
    const maxRecordBytes = this.d.maxRecordBytes;
    for (const rec of recs) {
      const e = newEntry(rec, seenAt);
      if (e.bytes > maxRecordBytes) {
        e.deadError = `record of ${e.bytes} bytes exceeds the destination limit of ${maxRecordBytes} bytes (${this.d.destKind}.maxRecordBytes)`;
        this.d.onOversize();
      }
      this.entries.push(e);
    }
    this.nextReadSeq = recs[recs.length - 1]!.seq + 1;
  }

  /** Sleep until the stream reaches seq (or timeoutMs passes, or `stop` aborts). Never polls. */
  async waitFor(seq: number, timeoutMs: number | undefined, stop: AbortSignal): Promise<void> {
    // Stopped while the loop read the store: an abort listener added now would never fire.
    if (stop.aborted) return;
    const ac = new AbortController();
    const onStop = (): void => ac.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => ac.abort(), timeoutMs);
    try {
      await this.d.streams.waitFor(this.d.stream, seq, ac.signal);
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      if (timer) clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  /**
   * Drop the done entries of the window, wherever they are (the checkpoint needs only the first
   * undone entry's sequence; a delivered record behind a failed one would hold its payload for
   * nothing); returns the highest sequence the checkpoint may reach.
   */
  dropDone(): number {
    const w = this.entries;
    let j = 0;
    for (let i = 0; i < w.length; i++) if (!w[i]!.done) w[j++] = w[i]!;
    w.length = j;
    return w.length > 0 ? w[0]!.rec.seq - 1 : this.nextReadSeq - 1;
  }
}
