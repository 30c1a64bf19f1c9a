// What an exporter does with the per-record results of a send: count the delivered, retry the
// retryable (spending the retry budget only with evidence that the record is at fault), dead-letter
// the permanent and the records out of budget, split a batch that failed as a whole, and append
// dead letters durably before the checkpoint passes them (each written by dead-letters.ts). The
// rules are in the behaviour contract at the top of exporter.ts.
import type { RuntimeDeps } from '../../core/deps.js';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import { performance } from 'node:perf_hooks';
import { fullJitterDelay, type ThrottlePacer } from './backoff.js';
import type { BatchLimits, Entry } from './batcher.js';
import type { ExporterOptions } from './options.js';
import type { ExporterMetrics } from './status.js';
import type { RecordResult } from './types.js';
import { appendDeadLetter, type DeadLetterDeps } from './dead-letters.js';

/** With the dead-letter writing's (dead-letters.ts: name, streams, dest, dlqName, sink, rateLog). */
export interface OutcomeDeps extends DeadLetterDeps {
  options: ExporterOptions;
  metrics: ExporterMetrics;
  pacer: ThrottlePacer;
  logger: RuntimeDeps['logger'];
  now: () => number;
  /** Record an error for status() and the log. */
  noteError: (message: string) => void;
  /** Random source of the jitter of a parked record's own backoff (tests). */
  random: () => number;
}

/** Highest sequence the checkpoint may reach: just before the first entry not yet done. */
export function checkpointCandidate(window: readonly Entry[], nextReadSeq: number): number {
  let i = 0;
  while (i < window.length && window[i]!.done) i++;
  return i < window.length ? window[i]!.rec.seq - 1 : nextReadSeq - 1;
}

/** How the loop goes on after a send. */
export interface SendVerdict {
  /** Records failed and wait to be resent: back off before the next send. */
  backoff: boolean;
  /** Nothing says the records are at fault (transport failure, or nothing accepted): an outage,
   * for the backoff cap (backoff.outageMaxMs). */
  outage: boolean;
  /** Refused for the gateway's setup (credentials, access, an ACL or permission refusing every
   * record of the send), nothing counted against the records: not an outage, retried at the
   * normal pace (backoff.maxMs) until someone fixes it. */
  setup: boolean;
  /** A parked record failed with nothing accepted since its last try: the wait ends early when new
   * records arrive (probes: the evidence it waits for), rather than holding them back. */
  wake: boolean;
}
const NO_WAIT: SendVerdict = { backoff: false, outage: false, setup: false, wake: false };
const FAILED: SendVerdict = { backoff: true, outage: false, setup: false, wake: false };
const OUTAGE: SendVerdict = { backoff: true, outage: true, setup: false, wake: false };
const SETUP: SendVerdict = { backoff: true, outage: false, setup: true, wake: false };
const HELD: SendVerdict = { backoff: true, outage: false, setup: false, wake: true };

export class ExportOutcomes {
  /** Entries of the last batch still to be retried (retry mode when non-empty). */
  retrySet: Entry[] = [];
  /** The retry set is a send that failed with record-level errors, resent once as it was. */
  private resending = false;
  /** Batch size cap while isolating failures of whole batches; Infinity when not isolating. */
  splitLimit = Infinity;
  splitUntilSeq = 0;
  /** Payload bytes per send learned from whole batches refused as too large (HTTP 413): half the
   * smallest one refused. Kept for the run: a receiver's body limit (nginx client_max_body_size)
   * does not change between batches, and each batch over it cost its upload and a split. */
  tooLargeBytes = Infinity;

  /** Sends that delivered at least one record: orders errors and successes without a clock (lastError.current). */
  sendsOk = 0;
  lastExportAt: number | undefined;
  exportedRecords = 0;
  exportedBytes = 0;
  retries = 0;
  deadLetters = 0;

  constructor(private readonly d: OutcomeDeps) {}

  /** Batch limits, narrowed while isolating a permanently failing batch. */
  limits(limits: BatchLimits): BatchLimits {
    if (this.splitLimit === Infinity && this.tooLargeBytes >= limits.maxBytes) return limits;
    return { maxRecords: Math.min(limits.maxRecords, this.splitLimit), maxBytes: Math.min(limits.maxBytes, this.tooLargeBytes) };
  }

  /** A whole batch refused as too large: later batches stay under half its bytes (logged at each step down). */
  private learnTooLarge(batch: readonly Entry[]): void {
    let bytes = 0;
    for (const e of batch) bytes += e.bytes;
    const cap = Math.max(1, Math.floor(bytes / 2));
    if (cap >= this.tooLargeBytes) return;
    this.tooLargeBytes = cap;
    this.d.logger.warn(
      { exporter: this.d.name, refusedBytes: bytes, maxBytes: cap },
      `the destination refused a batch of ${batch.length} records (${bytes} payload bytes) as too large: batches stay under ${cap} payload bytes from now on; set the exporter's batch.maxBytes below the receiver's body limit (e.g. nginx client_max_body_size) to skip the refused uploads`,
    );
  }

  /** The checkpoint is moving to `target`: isolation ends once it passes the split batch. */
  passed(target: number): void {
    if (this.splitLimit !== Infinity && target >= this.splitUntilSeq) this.splitLimit = Infinity;
  }

  /** Entries of the last batch to resend, leaving retry mode. */
  takeRetries(): Entry[] {
    const batch = this.retrySet.filter((e) => !e.done && e.deadError === undefined);
    this.retrySet = [];
    if (batch.length === 0) this.resending = false;
    return batch;
  }

  /** The exporter stopped and forgets its window: forget the retries with it. */
  forget(): void {
    this.retrySet = [];
    this.resending = false;
  }

  /**
   * Apply a send's outcome to its batch and say how the loop goes on. `window` and `nextReadSeq`
   * are the exporter's, read now (for ending isolation when the whole batch went through).
   */
  handleResults(batch: Entry[], results: RecordResult[] | Error, window: readonly Entry[], nextReadSeq: number): SendVerdict {
    const { name, metrics, options } = this.d;
    const lbl = { exporter: name };
    // Whether this send is the resend, as it was, of a send that failed with record-level errors.
    const resent = this.resending;
    this.resending = false;
    if (results instanceof Error) {
      // The whole batch failed retryably (network down, timeout, abort on stop).
      const msg = errorMessage(results);
      this.d.noteError(`send failed: ${msg}`);
      metrics.errors.inc({ exporter: name, kind: 'retryable' }, batch.length);
      // A transport failure says nothing about the records: it is an outage, retried with backoff
      // for as long as it lasts without spending the records' retry budget (an outage of hours
      // must not dead-letter the backlog).
      for (const e of batch) {
        e.mark = this.exportedRecords;
        this.retryOne(e, msg, false);
      }
      // A setup fault (a wrong key, url, region; a clock off by minutes) waits for a person or an
      // agent to fix it, not for a destination to come back: retried at the normal pace (maxMs),
      // so a fleet with bad credentials does not call the service every few seconds.
      return isSetupFault(results) ? SETUP : OUTAGE;
    }
    // Whether every record of the send was already held (throttled before): their failing again is
    // their shard's state, already paced by their own backoff, not the stream's.
    const onlyHeld = batch.every((e) => e.held > 0);
    let okRecords = 0;
    let okBytes = 0;
    let permanent = 0;
    let retryable = 0;
    let throttled = false;
    /** Records left without a verdict by a link that failed under the send (code DISCONNECTED). */
    let linkLost = 0;
    let lastMsg = '';
    const faults: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (r.ok) {
        const e = batch[i]!;
        e.done = true;
        okRecords++;
        okBytes += e.bytes;
      } else if (r.retryable) {
        retryable++;
        lastMsg = r.error;
        if (r.code === 'THROTTLED') throttled = true;
        else if (r.code === 'DISCONNECTED') linkLost++;
        else faults.push(i);
      } else {
        permanent++;
        lastMsg = r.error;
      }
    }
    if (okRecords > 0) {
      this.exportedRecords += okRecords;
      this.exportedBytes += okBytes;
      this.lastExportAt = this.d.now();
      this.sendsOk++;
      metrics.records.inc(lbl, okRecords);
      metrics.bytes.inc(lbl, okBytes);
    }
    // Records throttled at a destination that rebatches are held (hold()): with others accepted in
    // the same send, the service throttles where they go (a Kinesis shard), not the stream, so the
    // loop keeps its pace and they keep theirs (each on its own backoff); with nothing accepted the
    // loop slows down as for any throttling, unless the send carried only held records (a failing
    // shard's, retried alone while no new record was there to go beside them: the loop's pause
    // would only delay the new records that come next; the backoff paces it, new records end it).
    const rebatch = this.d.dest.rebatch === true;
    if (throttled && !(rebatch && (okRecords > 0 || onlyHeld))) this.d.pacer.throttled();
    else if (okRecords === batch.length) this.d.pacer.clean();
    if (retryable > 0) metrics.errors.inc({ exporter: name, kind: 'retryable' }, retryable);
    if (permanent > 0) metrics.errors.inc({ exporter: name, kind: 'permanent' }, permanent);
    if (okRecords === batch.length) {
      if (this.splitLimit !== Infinity && checkpointCandidate(window, nextReadSeq) >= this.splitUntilSeq) this.splitLimit = Infinity;
      return NO_WAIT;
    }
    this.d.noteError(lastMsg);

    if (permanent === batch.length && batch.length > 1 && options.isolatePermanent) {
      // No per-record verdict (e.g. HTTP 413 for the whole request): split to find the bad ones.
      // One verdict for the whole request (the http destination's 413), not records each too large.
      const r0 = results[0]!;
      if (!r0.ok && r0.code === 'TOO_LARGE' && results.every((r) => r === r0)) this.learnTooLarge(batch);
      this.split(batch);
      this.d.rateLog(
        'split permanent',
        { exporter: name, records: batch.length, error: lastMsg },
        'whole batch failed permanently: splitting it to isolate the bad records',
      );
      return NO_WAIT;
    }
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (r.ok || (r.retryable && r.code !== 'THROTTLED' && r.code !== 'DISCONNECTED')) continue;
      const e = batch[i]!;
      if (r.retryable) {
        // Throttling and a link lost mid-send are the destination's state, not the record's: they
        // do not spend the budget.
        e.mark = this.exportedRecords;
        if (rebatch && r.code === 'THROTTLED') this.hold(e);
        else this.retryOne(e, r.error, false);
      } else {
        e.attempts++;
        e.deadError = r.error;
      }
    }
    if (faults.length === 0) {
      if (retryable === 0) return NO_WAIT;
      if (linkLost > 0) return OUTAGE;
      if (this.retrySet.length > 0) return FAILED;
      // Only held records failed: with others accepted the loop goes on at once (the held records
      // wait out their own backoff, the new records behind them go); with nothing accepted it backs
      // off, until new records arrive to go beside them.
      return okRecords > 0 ? NO_WAIT : HELD;
    }
    return this.recordFaults(batch, results, faults, okRecords > 0, throttled, resent);
  }

  /**
   * Record-level failures (HTTP 500 or 408, a per-record InternalFailure): they spend a record's
   * budget only with evidence that the record is at fault, i.e. that the destination accepted other
   * records in the same send or since the record's previous failure. A send in which nothing was
   * accepted is resent once as it is (same HTTP request id: a blip goes through unchanged); failing
   * again, a batch is split in halves (no budget spent) and a single record is parked: it goes
   * alone, each time after the destination accepted other records (takeBatch), and each of those
   * failures spends its budget. In a storm nothing is accepted: nothing is spent, the loop backs off
   * as in an outage. (`okInSend`: records of this send were accepted.) A send whose every failure
   * is a refusal for the setup (`setup`: a broker ACL, a NATS permission) goes through the same
   * steps, nothing spent; once the records are alone it waits as a refused credential does (SETUP:
   * backoff.maxMs), not every few seconds: an ACL that refuses everything is not fixed by the next try.
   */
  private recordFaults(batch: Entry[], results: RecordResult[], faults: number[], okInSend: boolean, throttled: boolean, resent: boolean): SendVerdict {
    const accepted = this.exportedRecords;
    const error = (i: number): string => {
      const r = results[i]!;
      return r.ok ? '' : r.error;
    };
    // Every record this send still has to resend refused for the setup (no timeout, link lost or throttling among them).
    const idle = results.every((r) => r.ok || !r.retryable || r.setup === true) ? SETUP : OUTAGE;
    if (okInSend || throttled) {
      // Per-record verdicts. With others accepted in the same send, each failure is the record's
      // own; with throttling in it, the destination is busy: resent without spending.
      for (const i of faults) {
        batch[i]!.mark = accepted;
        this.retryOne(batch[i]!, error(i), okInSend);
      }
      this.resending = true;
      return this.retrySet.length > 0 ? FAILED : NO_WAIT;
    }
    if (batch.length === 1) {
      const e = batch[0]!;
      const evidence = e.mark >= 0 && accepted > e.mark;
      e.mark = accepted;
      if (evidence || e.parked || resent) {
        e.parked = true;
        this.retryOne(e, error(0), evidence, false);
        if (e.deadError !== undefined) return NO_WAIT;
        if (!evidence) return { ...idle, wake: true };
        // A counted failure: the destination accepts other records, so the loop does not wait; this
        // record does, on a backoff of its own (initialMs doubling per counted failure, up to maxMs),
        // while the records behind it go on. (The loop slept after each such failure: five records a
        // broker ACL refused held a stream of 1 message/s to about one record a minute.)
        const { initialMs, maxMs } = this.d.options.backoff;
        e.notBefore = performance.now() + fullJitterDelay(e.attempts - 1, initialMs, maxMs, this.d.random);
        return NO_WAIT;
      }
      // Its first failure alone: resent once at the outage's pace (a blip, or an ACL that refuses only
      // this record while those behind it wait to go).
      this.retryOne(e, error(0), false);
      this.resending = true;
      return OUTAGE;
    }
    // Several records: resent once, then split, at the outage's pace even for a setup refusal (a
    // few tries, log2 of the batch), so that records behind those an ACL refuses soon go on.
    for (const i of faults) batch[i]!.mark = accepted;
    if (!resent) {
      for (const i of faults) this.retryOne(batch[i]!, error(i), false);
      this.resending = true;
      return OUTAGE;
    }
    for (const i of faults) this.retryOne(batch[i]!, error(i), false, false);
    this.split(batch);
    this.d.rateLog(
      'split retryable',
      { exporter: this.d.name, records: batch.length, error: error(faults[0]!) },
      'whole batch failed twice with nothing accepted: splitting it to find out whether a record is at fault',
    );
    return OUTAGE;
  }

  /** Narrow the batches to half of this one until the checkpoint passes it (isolation). */
  private split(batch: readonly Entry[]): void {
    this.splitLimit = Math.ceil(batch.length / 2);
    this.splitUntilSeq = Math.max(this.splitUntilSeq, batch[batch.length - 1]!.rec.seq);
  }

  /**
   * Hold a throttled record in the window (a destination that rebatches): it joins a later batch
   * beside new records once its own backoff is over (initialMs doubling per throttled send in a
   * row, up to maxMs, full jitter), is never queued to be resent alone, and spends no budget.
   */
  private hold(e: Entry): void {
    e.held++;
    const { initialMs, maxMs } = this.d.options.backoff;
    e.notBefore = performance.now() + fullJitterDelay(e.held - 1, initialMs, maxMs, this.d.random);
    this.retries++;
    this.d.metrics.retries.inc({ exporter: this.d.name });
  }

  /** Count a retry; `spendBudget`: the failure is the record's (dead-lettered at maxAttempts);
   * `queue`: resend it next (retry mode), else it waits in the window (split, parked). */
  private retryOne(e: Entry, msg: string, spendBudget = true, queue = true): void {
    // Resent as today's failed records are (or parked, split): no longer held on a backoff of its own.
    if (e.held > 0) {
      e.held = 0;
      e.notBefore = 0;
    }
    if (spendBudget) e.attempts++;
    if (spendBudget && this.d.options.maxAttempts > 0 && e.attempts >= this.d.options.maxAttempts) {
      e.deadError = `${msg} (gave up after ${e.attempts} attempts)`;
      return;
    }
    this.retries++;
    this.d.metrics.retries.inc({ exporter: this.d.name });
    if (queue) this.retrySet.push(e);
  }

  /**
   * Append pending dead letters durably; the checkpoint cannot pass them before this. On failure
   * (dead-letter stream unwritable) the record stays pending, the checkpoint stops before it and
   * the loop backs off; returns false then.
   */
  async flushDeadLetters(window: readonly Entry[]): Promise<boolean> {
    for (const e of window) {
      if (e.done || e.deadError === undefined) continue;
      try {
        await appendDeadLetter(e, e.deadError, this.d);
      } catch (err) {
        this.d.noteError(`dead-letter append to '${this.d.dlqName}' failed: ${errorMessage(err)}`);
        return false;
      }
      e.done = true;
      this.deadLetters++;
      this.d.metrics.deadLetters.inc({ exporter: this.d.name });
    }
    return true;
  }
}

/** The longest wait a failed send's destination asked for (HTTP Retry-After), in ms; 0 when none. */
export function retryAfterOf(results: readonly RecordResult[] | Error): number {
  if (results instanceof Error) {
    const ms = results instanceof GatehouseError ? (results.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs : undefined;
    return typeof ms === 'number' ? ms : 0;
  }
  let max = 0;
  for (const r of results) if (!r.ok && r.retryAfterMs !== undefined && r.retryAfterMs > max) max = r.retryAfterMs;
  return max;
}

/** A whole send refused because of the gateway's setup, as destinations mark it (details.setup). */
function isSetupFault(err: Error): boolean {
  return err instanceof GatehouseError && (err.details as { setup?: unknown } | undefined)?.setup === true;
}
