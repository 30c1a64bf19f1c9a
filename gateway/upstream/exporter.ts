// The exporter loop: one per (local stream, destination), at least once.
//
//   read from checkpoint+1 -> batch (count / bytes / linger, within destination limits) -> send
//   -> per-record results -> dead-letter what must be -> advance the checkpoint over the
//   contiguous prefix of delivered or dead-lettered records.
//
// Choices (see docs/upstream.md):
// - Partial failure: only the failed records are resent; records after a failed one that were
//   delivered are not resent (unless the process restarts before the checkpoint passes them:
//   at-least-once, duplicates possible); the window drops them at once (only the first undelivered
//   record's sequence moves the checkpoint).
// - A retry resends exactly the failed records of the previous batch (no new records join it),
//   so destinations can keep a batch identity (the HTTP request id) across retries. Except for
//   throttled records (code THROTTLED) at a destination that keeps none (Destination.rebatch:
//   Kinesis, Firehose; a Kinesis InternalFailure with no record of its partition key accepted is
//   THROTTLED): they are held in the window, each on a backoff of its own, and join later batches
//   beside new records (at most half a batch of them while new ones wait), so one failing shard
//   does not hold back the others. They spend no budget, are never split or parked for it; the
//   loop keeps its pace while a send accepts others, and slows down (ThrottlePacer, backoff) when
//   nothing is accepted. The window holds at most HELD_BATCHES batches of them (their bytes under
//   two batches') and reads at most SPAN_BATCHES batches past the first undelivered record
//   (window.ts); beyond, nothing new is read and only they go, as without rebatching.
// - Retry budget: maxAttempts (default 10; 0 = forever) failures per record, counted only with
//   evidence that the record is at fault; then the record is dead-lettered with its error.
//   Transport failures (send() throws: connection refused, timeout, 502/503/504) and throttling
//   never count: they are outages, retried for as long as they last. A record-level failure
//   (HTTP 500/408, a per-record error like InternalFailure) counts only if the destination
//   accepted other records in the same send or since the record's previous failure. A send in
//   which nothing was accepted is resent once as it was, then split in halves (several records)
//   or the record is parked: it goes alone, once per send in which the destination accepted others
//   (the records behind it go one per send meanwhile: probes), on a backoff of its own after each
//   counted failure (the loop does not wait for it). So a storm (500 to everything)
//   spends nothing and waits with outage backoff, and a poison record is dead-lettered after
//   maxAttempts while the others go through. Permanent errors and records over
//   limits.maxRecordBytes are dead-lettered at once. Dead letters are appended durably before the
//   checkpoint passes them.
// - A whole multi-record batch failing permanently (HTTP 413: the protocol has no per-record
//   results) is split in halves until the bad records are isolated, so one bad record never
//   takes good ones with it (isolatePermanent).
//
// The parts: window.ts (reading the stream into the window; read-gaps.ts: reads that skip or find
// nothing where records are counted), outcomes.ts (per-record results, retries, dead letters,
// isolation), batcher.ts (the window's batches), checkpoint.ts (checkpoint written behind),
// backoff.ts / rate-limit.ts (pacing), exporter-health.ts (last error, status, backlog, gauges),
// send.ts (one send: abortable, its results checked), exporter-parts.ts (all of them built and tied
// to each other); this file is the loop: read, batch, linger, send, advance.
import { clocksOf } from '../../core/clock.js';
import { performance } from 'node:perf_hooks';
import { ERRORS, errorMessage } from '../../core/errors.js';
import type { LocalStreams } from '../store/types.js';
import type { Destination, RecordResult } from './types.js';
import type { ExporterOptions } from './options.js';
import { sleep, type RetryBackoff, type ThrottlePacer } from './backoff.js';
import { parkedCount, parkedDueAt, pendingLoad, takeBatch, type BatchLimits, type Entry } from './batcher.js';
import type { StreamWindow } from './window.js';
import type { TokenBucket } from './rate-limit.js';
import type { CheckpointWriter } from './checkpoint.js';
import { retryAfterOf, type ExportOutcomes } from './outcomes.js';
import type { RateLog } from '../../core/rate-log.js';
import type { ExporterHealth } from './exporter-health.js';
import { sendBatch } from './send.js';
import type { ExporterMetrics, ExporterState, ExporterStatus } from './status.js';
import { buildExporterParts, type ExporterDeps } from './exporter-parts.js';

// The exporter's deps are declared with its parts (exporter-parts.ts), imported from here.
export type { ExporterDeps } from './exporter-parts.js';

export interface Exporter {
  readonly name: string;
  /** Start the loop. A stop() while it runs waits for it; the loop then starts stopped (nothing read or sent). */
  start(): Promise<void>;
  /** Finish (or after stopTimeoutMs abort) the in-flight send, then stop; never passes unsent records. */
  stop(): Promise<void>;
  status(): ExporterStatus;
}

const GAUGE_REFRESH_MS = 5000;

export function createExporter(options: ExporterOptions, deps: ExporterDeps): Exporter {
  return new ExporterLoop(options, deps);
}

class ExporterLoop implements Exporter {
  readonly name: string;
  private readonly stream: string;
  private readonly dest: Destination;
  private readonly streams: LocalStreams;
  private readonly now: () => number;
  private readonly metrics: ExporterMetrics;
  private readonly limits: BatchLimits;
  private readonly dlqName: string;
  private readonly ownBucket: TokenBucket | undefined;
  private readonly pacer: ThrottlePacer;
  /** Results, retries, dead letters and the counters status() reports. */
  private readonly out: ExportOutcomes;

  private state: ExporterState = 'stopped';
  /** Checkpoint, written behind the sends (checkpoint.ts). */
  private readonly ckpt: CheckpointWriter;
  /** The records read and not yet behind the checkpoint (window.ts). */
  private readonly win: StreamWindow;
  private batch: Entry[] = [];
  /** The last send failed as a whole (destination unreachable): backoff capped at outageMaxMs. */
  private outage = false;
  /** The last send was refused for the setup (credentials, an ACL), nothing counted (status()). */
  private setupFault = false;
  private readonly retryBackoff: RetryBackoff;
  /**
   * The sends failed as a whole (an outage or a setup fault) since the last one that went through,
   * and since when (monotonic): the send that ends the run says so once, with how long and how
   * many (the errors in between are one line a minute, exporter-health.ts). At most one such line
   * a minute (a link flapping), with the count of those left out.
   */
  private down: { since: number; sends: number } | undefined;
  private readonly upLog: RateLog;

  private stopAc = new AbortController();
  private sendAc: AbortController | undefined;
  private loopDone: Promise<void> | undefined;
  private gaugeTimer: NodeJS.Timeout | undefined;

  /** The last error, the status document and the gauges (exporter-health.ts). */
  private readonly health: ExporterHealth;

  constructor(
    private readonly options: ExporterOptions,
    private readonly deps: ExporterDeps,
  ) {
    this.name = options.name;
    this.stream = options.stream;
    this.dest = deps.destination;
    this.streams = deps.streams;
    this.now = deps.now ?? Date.now;
    // The window, checkpoint, outcomes, pacing and health, built and tied to each other (exporter-parts.ts).
    const p = buildExporterParts(options, deps, this.now);
    this.metrics = p.metrics;
    this.limits = p.limits;
    this.dlqName = p.dlqName;
    this.ownBucket = p.ownBucket;
    this.pacer = p.pacer;
    this.retryBackoff = p.retryBackoff;
    this.ckpt = p.ckpt;
    this.win = p.win;
    this.out = p.out;
    this.health = p.health;
    this.upLog = p.upLog;
  }

  private get checkpoint(): number {
    return this.ckpt.durable;
  }

  /** start() in progress: a second start() joins it; stop() waits for it, and the loop then starts stopped. */
  private starting: Promise<void> | undefined;
  private stopRequested = false;

  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.loopDone) return;
    this.stopRequested = false;
    if (!this.streams.hasStream(this.stream)) {
      throw ERRORS.GH_STREAM_UNKNOWN(
        { stream: this.stream },
        {
          where: `exporters.${this.name}.stream`,
          hint: "define the stream under streams: or fix the exporter's stream name",
        },
      );
    }
    if (!this.deps.deadLetter && !this.streams.hasStream(this.dlqName)) {
      await this.streams.defineStream({ name: this.dlqName, maxBytes: this.options.deadLetterMaxBytes, onFull: 'drop-oldest' });
    }
    await this.streams.addConsumer(this.stream, this.name);
    this.ckpt.reset(await this.streams.getCheckpoint(this.stream, this.name));
    this.win.nextReadSeq = this.checkpoint + 1;
    await this.dest.start();
    this.stopAc = new AbortController();
    if (this.stopRequested) this.stopAc.abort(new Error('exporter stopping'));
    this.state = 'running';
    this.gaugeTimer = setInterval(() => this.health.updateGauges(), GAUGE_REFRESH_MS);
    this.gaugeTimer.unref();
    this.loopDone = this.run();
    this.deps.logger.info(
      { exporter: this.name, stream: this.stream, destination: this.dest.kind, target: this.dest.target, checkpoint: this.checkpoint },
      'exporter started',
    );
  }

  async stop(): Promise<void> {
    if (this.starting) {
      this.stopRequested = true;
      await this.starting.catch(() => undefined);
    }
    const loop = this.loopDone;
    if (!loop) return;
    this.stopAc.abort(new Error('exporter stopping'));
    // The send in flight when the timer fires, not when stop() began: the loop may be between sends.
    const timer = setTimeout(() => this.sendAc?.abort(new Error('exporter stopped: send aborted')), this.options.stopTimeoutMs);
    try {
      await loop;
      await this.ckpt.flush();
    } finally {
      clearTimeout(timer);
      clearInterval(this.gaugeTimer);
      this.loopDone = undefined;
      this.state = 'stopped';
      // Forget the window: what was not checkpointed is re-read on the next start.
      this.win.entries = [];
      this.out.forget();
      this.health.updateGauges();
      await this.dest.stop();
      this.deps.logger.info({ exporter: this.name, checkpoint: this.checkpoint }, 'exporter stopped');
    }
  }

  status(): ExporterStatus {
    return this.health.status(this.state, this.outage, this.setupFault);
  }

  // ---- the loop ---------------------------------------------------------------------------

  private get stopping(): boolean {
    return this.stopAc.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.step();
      } catch (err) {
        if (this.stopping) break;
        // Store trouble (read, checkpoint, dead-letter append): note it, back off, try again.
        this.health.noteError(`exporter loop: ${errorMessage(err)}`);
        this.outage = false;
        this.setupFault = false;
        await this.backoff();
      }
    }
  }

  private async step(): Promise<void> {
    const retrying = this.out.retrySet.length > 0;
    let full = false;
    if (retrying) {
      this.batch = this.out.takeRetries();
      if (this.batch.length === 0) return;
    } else {
      await this.win.fill();
      const dlOk = await this.out.flushDeadLetters(this.win.entries);
      this.advance();
      if (!dlOk) await this.backoff();
      full = this.takeBatch();
      if (this.batch.length === 0) {
        // A dead letter still pending: retry it (after the backoff above) rather than sleep.
        if (!dlOk) return;
        // Holding where the store counts records it does not return: retry after the backoff.
        if (this.win.stalled) return this.backoff();
        this.health.settleIfAllDone();
        this.health.updateGauges();
        // A parked record within its own backoff: until it ends, or until new records arrive.
        const dueAt = parkedDueAt(this.win.entries);
        await this.win.waitFor(this.win.nextReadSeq, dueAt === undefined ? undefined : Math.max(1, dueAt - performance.now()), this.stopAc.signal);
        return;
      }
      if (!full) full = await this.linger();
    }
    const batch = this.batch.slice();
    let bytes = 0;
    for (const e of batch) bytes += e.bytes;

    if (this.pacer.delayMs > 0) await sleep(this.pacer.delayMs, this.stopAc.signal);
    if (this.ownBucket) await this.ownBucket.acquire(bytes, this.options.priority, this.stopAc.signal);
    if (this.deps.uplink) await this.deps.uplink.acquire(bytes, this.options.priority, this.stopAc.signal);

    // A batch's CPU work (encoding it, decoding the next) right after a commit is cut, not in the
    // middle of a commit window where it would delay publishes waiting for their PUBACK.
    const cut = this.streams.afterCut?.();
    if (cut) await cut;
    // Stopped while reading, pacing or waiting for the cut: no new send (stop() bounds only sends).
    if (this.stopping) throw new Error('exporter stopping');
    // Read the next batch from the store while this one is on the wire.
    const prefetch = retrying
      ? undefined
      : this.win.fill().then(
          () => undefined,
          (err: unknown) => err,
        );
    const results = await this.send(batch);
    const okBefore = this.out.sendsOk;
    const verdict = this.out.handleResults(batch, results, this.win.entries, this.win.nextReadSeq);
    this.noteDown(verdict.outage || verdict.setup, this.out.sendsOk > okBefore);
    this.outage = verdict.outage;
    this.setupFault = verdict.setup;
    const prefetchErr = await prefetch;
    const dlOk = await this.out.flushDeadLetters(this.win.entries);
    this.advance();
    if (prefetchErr !== undefined) throw prefetchErr;
    if (verdict.backoff || !dlOk) await this.backoff(retryAfterOf(results), verdict.wake && dlOk);
    // While a record is parked, the sends accepted between its tries do not reset the backoff.
    else if (parkedCount(this.win.entries) === 0) this.retryBackoff.reset();
  }

  /** Count a send failed as a whole; the first that goes through after such sends says the outage ended. */
  private noteDown(failed: boolean, through: boolean): void {
    const mono = clocksOf(this.deps).monotonic;
    if (failed) {
      this.down ??= { since: mono(), sends: 0 };
      this.down.sends++;
    } else if (through && this.down) {
      const { since, sends } = this.down;
      this.down = undefined;
      this.upLog('resumed', { exporter: this.name, downMs: Math.round(mono() - since), failedSends: sends }, 'export resumed');
    }
  }

  /** The next batch from the window, within the limits (narrowed while isolating a failing batch). */
  private takeBatch(): boolean {
    // Near the window's cap, parked records go without their own backoff (window.ts, nearCap).
    const now = this.win.nearCap ? Number.POSITIVE_INFINITY : performance.now();
    return takeBatch(this.win.entries, this.out.limits(this.limits), this.batch, this.out.exportedRecords, now);
  }

  /** Wait for more records until the batch fills or its linger time ends. Returns whether full. */
  private async linger(): Promise<boolean> {
    const first = this.batch[0]!;
    // Linger runs on the monotonic clock from when the first record was read, shortened by the
    // record's age (wall clock) so backlog records go at once; a receivedAt in the future (clock
    // jumped back) cannot lengthen it.
    const lingerMs = this.options.batch.lingerMs;
    const age = Date.now() - first.rec.receivedAt;
    const deadline = first.seenAt + Math.min(lingerMs, Math.max(0, lingerMs - age));
    let full = false;
    while (!full && !this.stopping) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      // Held records (throttled, on their own backoff) do not fill the batch: wait for new ones.
      const load = pendingLoad(this.win.entries);
      const need = this.limits.maxRecords - (load.records - load.heldRecords);
      await this.win.waitFor(this.win.nextReadSeq + Math.max(0, need - 1), remaining, this.stopAc.signal);
      if (this.stopping) break;
      await this.win.fill();
      full = this.takeBatch();
      if (this.win.stalled) break;
    }
    if (this.stopping) throw new Error('exporter stopping');
    // Dead letters read during linger are flushed before the send.
    await this.out.flushDeadLetters(this.win.entries);
    return this.takeBatch() || full;
  }

  /** One send (send.ts); stop()'s timer aborts it through sendAc. */
  private async send(batch: Entry[]): Promise<RecordResult[] | Error> {
    this.sendAc = new AbortController();
    try {
      return await sendBatch(this.dest, batch, this.sendAc.signal, this.metrics);
    } finally {
      this.sendAc = undefined;
    }
  }

  /** Drop the done prefix of the window and move the checkpoint over it (written behind). */
  private advance(): void {
    const target = this.win.dropDone();
    this.out.passed(target);
    this.ckpt.advance(target);
  }

  /**
   * Wait before the next try; at least `minMs` (a destination's Retry-After), up to backoff.maxMs.
   * `wake`: new records end it (probes for a parked record), when the window can read them.
   */
  private async backoff(minMs = 0, wake = false): Promise<void> {
    const ms = Math.max(this.retryBackoff.next(this.outage), Math.min(minMs, this.options.backoff.maxMs));
    this.state = 'backoff';
    this.health.updateGauges();
    try {
      if (wake && this.win.hasRoom) await this.win.waitFor(this.win.nextReadSeq, ms, this.stopAc.signal);
      else await sleep(ms, this.stopAc.signal);
    } catch {
      // stopped while backing off
    } finally {
      if (!this.stopping) this.state = 'running';
    }
  }
}
