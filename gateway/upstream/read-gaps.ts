// What the exporter's window (window.ts) does when a read does not simply continue where the last
// one stopped: an empty read at a position the stream counts records for, or a read that jumps
// over sequences. The rule: skip only records that are provably gone, count every skip, and hold
// (never skip) where the store's counters and its data disagree. See docs/upstream.md, "Gaps in a
// stream".
//
// - Records below the stream's firstSeq were dropped by retention (reclaim never passes this
//   exporter's own checkpoint). The claim comes from the store's in-memory counters, so it is
//   checked against the data first (LocalStreams.firstHeld reads the segment keys on disk): a
//   counter that reads too high (as during a reopen rescan, once) must not make the exporter skip
//   records that are still there, which its checkpoint would then let reclaim delete.
// - Records at or after firstSeq that a read jumps over are records the store could not return (a
//   segment that does not decode, a malformed key: the store logs and counts them too).
// - An empty read at firstSeq <= position <= lastSeq (the store counts records it cannot return):
//   hold the position, warn once per run of such reads, count each, and let the exporter retry
//   after its backoff.
// Only reads that do not continue at the position get here (a comparison per read, nothing per
// record).
import type { Logger } from 'pino';
import { createError, type GatehouseError } from '../../core/errors.js';
import type { LocalStreams, StoredRecord, StreamInfo } from '../store/types.js';
import type { ExporterMetrics } from './status.js';

/** Where an exporter holds because the store counts records there that it does not return. */
export interface ReadStall {
  /** The position held: the first sequence not read. */
  seq: number;
  /** The stream's counters when the run of inconsistent reads began. */
  firstSeq: number;
  lastSeq: number;
  /** Epoch ms of the first inconsistent read of the run. */
  since: number;
  /** Inconsistent reads in this run. */
  reads: number;
}

export interface ReadGapsDeps {
  streams: LocalStreams;
  stream: string;
  exporter: string;
  logger: Logger;
  metrics: Pick<ExporterMetrics, 'skippedRecords' | 'inconsistentReads'>;
  now: () => number;
  /** A run of inconsistent reads began (the exporter's lastError). */
  onStall: (err: GatehouseError) => void;
}

export class ReadGaps {
  /** Records skipped because retention dropped them before this exporter read them. */
  retention = 0;
  /** Records skipped because the store could not return them (it logs and counts them too). */
  unreadable = 0;
  /** Reads that returned nothing, or jumped, where the store's counters or data say records are. */
  inconsistentReads = 0;
  /** Set while the exporter holds at a position (cleared by the next consistent read). */
  stall: ReadStall | undefined;

  constructor(private readonly d: ReadGapsDeps) {}

  /** A read at `pos` returned nothing: the position to read next (`pos` while nothing is there yet, or while holding). */
  async afterEmpty(pos: number): Promise<number> {
    const { streams, stream } = this.d;
    let info = streams.info(stream);
    if (pos > info.lastSeq) return this.resume(pos);
    if (info.firstSeq <= pos) {
      // Read once more: retention deleting the records between the read and info() is not an
      // inconsistency (the counters follow the deletes right after the write).
      if ((await streams.read(stream, pos, { limit: 1 })).length > 0) return pos;
      info = streams.info(stream);
      if (pos > info.lastSeq) return this.resume(pos);
      if (info.firstSeq <= pos) {
        this.hold(pos, info, `stream '${stream}' counts records ${pos}..${info.lastSeq} (firstSeq ${info.firstSeq}) but a read from ${pos} returns none`);
        return pos;
      }
    }
    const held = await streams.firstHeld(stream, pos);
    if (held !== undefined && held < info.firstSeq) {
      this.holdHeld(pos, info, held);
      return pos;
    }
    this.skip(pos, info.firstSeq - pos, 0);
    return this.resume(info.firstSeq);
  }

  /**
   * A read at `pos` returned `recs` (not empty). True when they may be taken: when they jump over
   * sequences, the jump is counted (below firstSeq: retention, if the data agrees; the rest:
   * records the store could not return). False when the data holds records the jump would skip:
   * the position is held and the records are not taken.
   */
  async afterRead(pos: number, recs: readonly StoredRecord[]): Promise<boolean> {
    const first = (recs[0] as StoredRecord).seq;
    const inside = (recs[recs.length - 1] as StoredRecord).seq - first + 1 - recs.length;
    if (first === pos && inside === 0) {
      if (this.stall) this.resume(pos);
      return true;
    }
    let retention = 0;
    if (first > pos) {
      const info = this.d.streams.info(this.d.stream);
      const gone = Math.min(first, info.firstSeq);
      if (gone > pos) {
        const held = await this.d.streams.firstHeld(this.d.stream, pos);
        if (held !== undefined && held < gone) {
          this.holdHeld(pos, info, held);
          return false;
        }
        retention = gone - pos;
      }
    }
    this.skip(pos, retention, first - pos - retention + inside);
    if (this.stall) this.resume(pos);
    return true;
  }

  /** Count a skip (retention drops are logged by the store when they happen; not again here, per read). */
  private skip(pos: number, retention: number, unreadable: number): void {
    const { metrics, exporter, stream, logger } = this.d;
    if (retention > 0) {
      this.retention += retention;
      metrics.skippedRecords.inc({ exporter, stream, reason: 'retention' }, retention);
    }
    if (unreadable > 0) {
      this.unreadable += unreadable;
      metrics.skippedRecords.inc({ exporter, stream, reason: 'unreadable' }, unreadable);
      logger.warn(
        { exporter, stream, seq: pos, records: unreadable },
        'exporter passed records the store could not return (GH_STORE_CORRUPT: see the store log)',
      );
    }
  }

  private holdHeld(pos: number, info: StreamInfo, held: number): void {
    this.hold(pos, info, `stream '${this.d.stream}' reports records before ${info.firstSeq} as dropped, but record ${held} is still stored`);
  }

  private hold(pos: number, info: StreamInfo, reason: string): void {
    const { metrics, exporter, stream, logger } = this.d;
    this.inconsistentReads++;
    metrics.inconsistentReads.inc({ exporter, stream });
    if (this.stall?.seq === pos) {
      this.stall.reads++;
      return;
    }
    this.stall = { seq: pos, firstSeq: info.firstSeq, lastSeq: info.lastSeq, since: this.d.now(), reads: 1 };
    const err = createError(
      'GH_EXPORT_READ_INCONSISTENT',
      { reason: `${reason}: exporter '${exporter}' holds at ${pos} and retries (nothing skipped)` },
      { where: `stream ${stream}, seq ${pos}` },
    );
    logger.warn({ exporter, stream, seq: pos, firstSeq: info.firstSeq, lastSeq: info.lastSeq, code: err.code, hint: err.hint }, err.message);
    this.d.onStall(err);
  }

  private resume(pos: number): number {
    const s = this.stall;
    if (s) {
      this.stall = undefined;
      this.d.logger.info({ exporter: this.d.exporter, stream: this.d.stream, seq: pos, heldAt: s.seq, reads: s.reads }, 'exporter reads are consistent again');
    }
    return pos;
  }
}
