// What the store says of damage found at open (repair.ts): a database repaired with RepairDB
// (GH_STORE_REPAIRED) and bytes of a damaged write-ahead log LevelDB dropped (GH_STORE_CORRUPT),
// each logged at error level, counted, and kept for the process's lifetime (/healthz, `gatehouse
// status`). Apart from local-streams.ts, which holds the store's state.
import type { Logger } from 'pino';
import { ERRORS } from '../../core/errors.js';
import type { StoreMetrics } from './metrics.js';
import type { LogDrop, RepairReport } from './repair.js';
import type { StreamState } from './state.js';
import type { StoreRepair } from './types.js';

export class DamageReports {
  /** A damaged database repaired at this open. */
  repair: StoreRepair | undefined;
  /** Bytes of a damaged write-ahead log LevelDB dropped at this open, and when (epoch ms). */
  dropped: (LogDrop & { at: number }) | undefined;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly metrics: Pick<StoreMetrics, 'repairs' | 'logDroppedBytes'>,
  ) {}

  /** Say loudly what a repair at open did and what the store holds after it (its streams scanned). */
  repaired(report: RepairReport, scanned: Iterable<StreamState>): void {
    const streams = [...scanned]
      .map((s) => ({ name: s.name, records: s.physRecords, firstSeq: s.physRecords > 0 ? s.headSeq : s.lastSeq + 1, lastSeq: s.lastSeq }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    this.repair = { ...report, streams };
    this.metrics.repairs.inc();
    const outcome =
      `${streams.reduce((n, s) => n + s.records, 0)} records held after it (${streams.map((s) => `${s.name} ${s.records}`).join(', ') || 'no stream'}); ` +
      `${report.lostFiles.length} file(s) set aside in ${report.lostDir} (${report.lostBytes} bytes)` +
      (report.tablesSetAside > 0 ? `, ${report.tablesSetAside} of them table file(s) it could not read whole: records they held may be lost` : '');
    const err = ERRORS.GH_STORE_REPAIRED({ dir: this.path, reason: report.reason, outcome });
    this.log.error(
      {
        code: err.code,
        path: this.path,
        reason: report.reason,
        lostDir: report.lostDir,
        lostFiles: report.lostFiles,
        lostBytes: report.lostBytes,
        tablesSetAside: report.tablesSetAside,
        streams,
        ms: report.ms,
        hint: err.hint,
      },
      err.message,
    );
  }

  /** Say loudly what LevelDB dropped of a damaged write-ahead log: acknowledged records may have been in it. */
  logDropped(drop: LogDrop): void {
    this.dropped = { ...drop, at: Date.now() };
    this.metrics.logDroppedBytes.inc(drop.bytes);
    const err = ERRORS.GH_STORE_CORRUPT(
      {
        what: "LevelDB's write-ahead log",
        reason: `${drop.bytes} bytes of it did not check and were dropped when the store opened (${drop.lines.join('; ')})`,
      },
      {
        hint: `the records in those bytes are lost (written before the damage: an SD card, a power cut); the rest of the store is open and sent on as usual. LevelDB's own lines are in ${this.path}/LOG. A store damaged again soon means a failing SD card: replace it`,
      },
    );
    this.log.error({ code: err.code, path: this.path, bytes: drop.bytes, lines: drop.lines, hint: err.hint }, err.message);
  }
}
