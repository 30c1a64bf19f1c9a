// What an exporter reports about itself: its last error (when the run of errors began, whether it
// is still current, logged at once then once a minute), its status document (/api/streams), its
// backlog and its gauges (backlog records and age, failing since, held records). Apart from exporter.ts (the
// loop: read, batch, linger, send, advance): none of it is on the send path; the loop notes its
// errors here and asks for the status and the gauges.
import type { RateLog } from '../../core/rate-log.js';
import type { LocalStreams, StreamInfo } from '../store/types.js';
import { parkedCount, pendingLoad } from './batcher.js';
import type { CheckpointWriter } from './checkpoint.js';
import type { ExportOutcomes } from './outcomes.js';
import type { ReadGaps } from './read-gaps.js';
import { exporterBacklog, type ExporterMetrics, type ExporterState, type ExporterStatus } from './status.js';
import type { Destination } from './types.js';
import type { ExporterOptions } from './options.js';
import type { StreamWindow } from './window.js';

/** What the health reads besides the exporter's options and deps (its parts, made by the loop). */
export interface ExporterHealthParts {
  metrics: ExporterMetrics;
  /** Wall clock (timestamps a human reads). */
  now: () => number;
  /** The exporter's rate-limited error log. */
  errorLog: RateLog;
  /** Results, retries, dead letters and their counters. */
  out: ExportOutcomes;
  /** The records read and not yet behind the checkpoint. */
  win: StreamWindow;
  gaps: ReadGaps;
  ckpt: CheckpointWriter;
}

export class ExporterHealth {
  /** okSends: the destination's successful sends when it happened (is it still current?); since:
   * when the run of errors with no send through between them began. */
  private lastError: { message: string; at: number; okSends: number; since: number; send: boolean } | undefined;

  private readonly name: string;
  private readonly stream: string;
  private readonly dest: Destination;
  private readonly streams: LocalStreams;

  constructor(
    options: Pick<ExporterOptions, 'name' | 'stream'>,
    deps: { destination: Destination; streams: LocalStreams },
    private readonly d: ExporterHealthParts,
  ) {
    this.name = options.name;
    this.stream = options.stream;
    this.dest = deps.destination;
    this.streams = deps.streams;
  }

  /** `send`: the error is a send's (its records' verdicts or the call), not the store's. */
  noteError(message: string, log = true, send = false): void {
    const at = this.d.now();
    // Failing since the first error after the last send that went through (an outage of hours
    // shows its start, not only its latest error).
    const prev = this.lastError;
    const since = prev && prev.okSends === this.d.out.sendsOk ? prev.since : at;
    this.lastError = { message, at, okSends: this.d.out.sendsOk, since, send };
    // An outage of hours fails a send every few seconds: logged at once, then once a minute with
    // how many were suppressed (core/rate-log.ts); the status and the metrics count every one.
    if (log) this.d.errorLog('export error', { exporter: this.name, error: message }, 'export error');
  }

  /**
   * Nothing left to send, every record delivered or dead-lettered: a send's last error (a record
   * refused for good, perhaps alone in its last try) is no longer current. Else an idle exporter
   * read 'failing since' for good after a poison record, and its failing-since gauge stayed set.
   */
  settleIfAllDone(): void {
    const e = this.lastError;
    if (e?.send && e.okSends === this.d.out.sendsOk && this.d.win.entries.every((x) => x.done)) this.lastError = { ...e, okSends: -1 };
  }

  /** The status document; state, outage and setupFault are the loop's. */
  status(state: ExporterState, outage: boolean, setupFault: boolean): ExporterStatus {
    const { out, win, gaps } = this.d;
    const dest = this.dest;
    const backlog = this.backlog();
    const stall = gaps.stall;
    return {
      name: this.name,
      stream: this.stream,
      destination: { kind: dest.kind, target: dest.target },
      state,
      lastExportedSeq: this.d.ckpt.durable,
      lastExportAt: out.lastExportAt,
      lastError: this.lastError && {
        message: this.lastError.message,
        at: new Date(this.lastError.at).toISOString(),
        since: new Date(this.lastError.since).toISOString(),
        current: out.sendsOk === this.lastError.okSends,
      },
      exportedRecords: out.exportedRecords,
      exportedBytes: out.exportedBytes,
      retries: out.retries,
      deadLetters: out.deadLetters,
      parked: parkedCount(win.entries),
      held: pendingLoad(win.entries).heldRecords,
      heldBack: win.heldBack,
      outage,
      setupFault,
      skipped: { retention: gaps.retention, unreadable: gaps.unreadable },
      inconsistentReads: gaps.inconsistentReads,
      readStall: stall && { ...stall, since: new Date(stall.since).toISOString() },
      backlog,
    };
  }

  updateGauges(): void {
    const { metrics } = this.d;
    const name = this.name;
    const b = this.backlog();
    metrics.backlogRecords.set({ exporter: name }, b.records);
    metrics.backlogAge.set({ exporter: name }, b.ageSeconds);
    metrics.heldRecords.set({ exporter: name }, pendingLoad(this.d.win.entries).heldRecords);
    const e = this.lastError;
    metrics.failingSince.set({ exporter: name }, e && e.okSends === this.d.out.sendsOk ? e.since / 1000 : 0);
  }

  private backlog(): ExporterStatus['backlog'] {
    let info: StreamInfo;
    try {
      info = this.streams.info(this.stream);
    } catch {
      return { records: 0, bytes: 0, ageSeconds: 0 };
    }
    return exporterBacklog(info, this.d.ckpt.durable, this.d.win.entries.find((e) => !e.done)?.rec.receivedAt, this.d.now());
  }
}
