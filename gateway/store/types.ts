// Contract of the local stream store (gateway/store/). Other components depend only on this file.
//
// A local stream is a named, append-only, sequence-numbered log. Sequence numbers start at 1 (once a
// stream was dropped: past the highest sequence of any dropped stream, dropStreams) and never repeat within a stream name
// (not even after reclaim, restart, or a drop and a definition again). A consumer (an exporter) keeps
// a checkpoint: the last sequence it has delivered (0 = nothing yet). Records at or below the
// minimum checkpoint of all registered consumers are reclaimed. Retention (maxBytes, ttl) applies
// on top: under onFull 'drop-oldest' the oldest records are dropped (counted, never silent); under
// 'reject' an append waits for space (backpressure) and fails with GH_STREAM_FULL after
// appendTimeoutMs.

export type OnFull = 'reject' | 'drop-oldest';
export type Durability = 'fsync' | 'os';

export interface StreamOptions {
  name: string;
  /** Upper bound of the record bytes held by the stream (topic + payload + key + attrs, UTF-8). */
  maxBytes: number;
  /** Records older than this (by receivedAt) are reclaimed; undefined = keep until exported/full. */
  ttlMs?: number;
  onFull: OnFull;
}

export interface AppendRecord {
  topic: string;
  payload: Buffer;
  /** Epoch ms when the source message arrived. */
  receivedAt: number;
  /** Partition key (per-device ordering upstream); optional. */
  key?: string;
  /** Small string attributes (e.g. dead-letter error, original stream/seq, destination). */
  attrs?: Record<string, string>;
}

export interface StoredRecord extends AppendRecord {
  stream: string;
  seq: number;
}

export interface ConsumerInfo {
  name: string;
  /** Last delivered sequence (0 = none). */
  checkpoint: number;
}

export interface StreamInfo {
  name: string;
  options: StreamOptions;
  /** First sequence still held (lastSeq + 1 when empty). */
  firstSeq: number;
  /** Last sequence ever appended (0 = none). */
  lastSeq: number;
  records: number;
  bytes: number;
  /** receivedAt of the oldest held record, if any (to the granularity of one commit batch). */
  oldestAt: number | undefined;
  consumers: ConsumerInfo[];
  /** Records dropped by retention before every consumer had them (drop-oldest, ttl). */
  droppedRecords: number;
  /** Appends that failed with GH_STREAM_FULL. */
  rejectedAppends: number;
}

export interface ReadOptions {
  /** Max records returned (default 500). */
  limit?: number;
  /** Soft cap on summed payload bytes; at least one record is returned if any exists. */
  maxBytes?: number;
}

/**
 * The store's id (identity.ts): made with the database, so a store made anew (its directory deleted,
 * re-created) has another, and its sequences restarting never pass for the old store's.
 */
export interface StoreIdentity {
  /** 16 hex digits. */
  id: string;
  /** The database was made before store ids (round 30 and older): its id was given at this open. */
  adopted: boolean;
}

export interface LocalStreams {
  open(): Promise<void>;
  /** Flush pending group commits, then close the database. */
  close(): Promise<void>;
  /**
   * Refuse (GH_STREAM_FULL) every append waiting for space in a full 'reject' stream, now, and
   * from now on every append that would wait: a stopping gateway has closed its clients, so such
   * an append could no longer be acknowledged, and committing it later would only duplicate the
   * device's resend. Returns how many were waiting.
   */
  refuseWaitingForSpace(): number;
  /** Create or update a stream's options. Idempotent. */
  defineStream(options: StreamOptions): Promise<void>;
  streamNames(): string[];
  /** The store's id, known once open (identity.ts). Optional: in-memory test stores. */
  identity?(): StoreIdentity;
  /**
   * Streams found on disk that no defineStream named (left by a config or a rule update that no
   * longer names them), by name: their info() once defined. Optional: in-memory test stores.
   */
  undefinedStreams?(): StreamInfo[];
  hasStream(name: string): boolean;
  /**
   * Remove the records with seq <= through, whatever their consumers delivered (trim.ts): the dead
   * letters an operator sent again or purged. One write: a kill -9 leaves all of them or none.
   * Resolves with the records and bytes that were held. Optional: in-memory test stores.
   */
  trimThrough?(stream: string, through: number): Promise<{ records: number; bytes: number }>;
  /**
   * Undefine streams that hold nothing (a retired rule exporter's stream and its empty dead-letter
   * stream), all or none, in one write with their keys, `options.metaKeys` and the drop floor
   * (drop.ts): GH_STREAM_IN_USE while one holds records, has appends pending, consumers other than
   * `options.consumer` (whose checkpoint goes with it) or readers waiting. Names not known are
   * skipped; resolves with those dropped. A stream of a dropped name defined again starts its
   * sequences past every dropped stream's. Optional: in-memory test stores.
   */
  dropStreams?(names: readonly string[], options?: DropOptions): Promise<string[]>;
  /**
   * Append one record. Resolves with its sequence number once it is committed with the store's
   * durability (fsync: on disk). Many concurrent appends share one batch write (group commit).
   */
  append(stream: string, record: AppendRecord): Promise<number>;
  /** Records with seq >= fromSeq, in order. Returns [] when none. */
  read(stream: string, fromSeq: number, options?: ReadOptions): Promise<StoredRecord[]>;
  /**
   * The first sequence >= fromSeq still held, looked up in the data (the segment keys on disk), not
   * in the counters info() reports; undefined when none is held. A consumer checks with it before it
   * skips records as dropped by retention (firstSeq past its position): a wrong counter must not
   * make it skip records that are still there (docs/upstream.md).
   */
  firstHeld(stream: string, fromSeq: number): Promise<number | undefined>;
  /** Resolves when the stream's lastSeq >= seq, or rejects with an AbortError when signal aborts. */
  waitFor(stream: string, seq: number, signal?: AbortSignal): Promise<void>;
  /** Register a consumer (idempotent); reclaim waits for every registered consumer. */
  addConsumer(stream: string, consumer: string): Promise<void>;
  removeConsumer(stream: string, consumer: string): Promise<void>;
  getCheckpoint(stream: string, consumer: string): Promise<number>;
  /**
   * Record that consumer delivered everything up to seq; may reclaim space. Written without its own
   * fsync: LevelDB replays its log in order, so a power cut can only lose a checkpoint together with
   * later writes, and the worst case is resending records (at least once), never a gap.
   */
  setCheckpoint(stream: string, consumer: string, seq: number): Promise<void>;
  info(stream: string): StreamInfo;
  /** Small durable key/value area for control state (rule sets, window checkpoints). */
  getMeta(key: string): Promise<Buffer | undefined>;
  putMeta(key: string, value: Buffer): Promise<void>;
  /** Several meta keys in one write: after a crash, all of them are on disk or none (a rule set and its rollback target). */
  putMetas(entries: ReadonlyArray<readonly [key: string, value: Buffer]>): Promise<void>;
  /** Meta keys starting with `prefix`, in key order (the rule host's sweep of unused rule state). Optional: in-memory test stores. */
  metaKeys?(prefix: string): Promise<string[]>;
  /** Delete meta keys in one write. Optional with metaKeys. */
  deleteMetas?(keys: readonly string[]): Promise<void>;
  /**
   * Write a meta key/value in the group commit, in FIFO order with appends: it is written in the
   * same db.batch as every append submitted before it that is not yet written, or in a later one,
   * never an earlier one. So a source's position (a file offset) is never on disk without the
   * records read before it. Resolves once written with the store's durability; rejects when that
   * batch fails. Appends submitted before it that fail (GH_STREAM_FULL) do not hold it back.
   */
  commitMeta(key: string, value: MetaValue): Promise<void>;
  /** Apply ttl now (also runs on a timer). */
  sweep(): Promise<void>;
  /** Compact the underlying database (maintenance job). Rejects with GH_STORE_DISK_FULL when LevelDB refuses writes after it (a compaction that failed on a full disk): the store then reopens by itself. */
  compact(): Promise<void>;
  /**
   * Whether data appends are taken (disk-guard.ts): false while free space is under
   * store.reserveBytes or after a failed write, until recovery. Optional: in-memory test stores.
   */
  diskState?(): DiskState;
  /**
   * The repair of a damaged database at this run's open (repair.ts; GH_STORE_REPAIRED), for the
   * process's lifetime: /healthz and `gatehouse status` show it. Optional: in-memory test stores.
   */
  repaired?(): StoreRepair | undefined;
  /**
   * Bytes of a damaged write-ahead log LevelDB dropped at this run's open (repair.ts; GH_STORE_CORRUPT),
   * with LevelDB's lines and when (epoch ms), for the process's lifetime. Optional: in-memory test stores.
   */
  logDropped?(): (LogDrop & { at: number }) | undefined;
  /**
   * How long the disk takes to complete the group commits (slow-disk.ts): a commit in flight for
   * seconds (a stall: no acknowledgement meanwhile), the last minute's mean and slowest. Optional:
   * in-memory test stores.
   */
  commitHealth?(): CommitHealth;
  /**
   * Undefined while no append waits for a commit; else resolves just after the pending appends are
   * cut for their write (committer.ts afterCut). Background readers (exporters) await it before a
   * batch's CPU work, so their event-loop pauses fall where no acknowledgement waits on them.
   * Optional: in-memory test stores.
   */
  afterCut?(): Promise<void> | undefined;
}

export type { DiskState, DiskCondition } from './disk-guard.js';
/** What a repair did: the log line, /healthz and `gatehouse status` say it. */
export interface RepairReport {
  /** Epoch ms (wall time, shown only) when the repair ran. */
  at: number;
  /** LevelDB's refusal (or the missing CURRENT) that started it, one line. */
  reason: string;
  /** Where RepairDB moved the files it could not use and the ones it replaced. */
  lostDir: string;
  /** Files in lostDir after the repair, and their bytes. */
  lostFiles: string[];
  lostBytes: number;
  /**
   * Table files (.ldb/.sst) RepairDB set aside in lostDir: it could not read some or all of their
   * entries (what it could read it copied into a new table), so records they held may be lost.
   */
  tablesSetAside: number;
  ms: number;
}

/** What LevelDB's open dropped of a damaged write-ahead log (its LOG file says; nothing else does). */
export interface LogDrop {
  /** Bytes dropped, summed over LevelDB's lines. */
  bytes: number;
  /** LevelDB's lines, without their time and thread: "<file>: dropping N bytes; Corruption: ...". */
  lines: string[];
}

/** A repair at open (repair.ts) and what each stream held once the store was open after it. */
export interface StoreRepair extends RepairReport {
  streams: Array<{ name: string; records: number; firstSeq: number; lastSeq: number }>;
}

/** What goes with the streams LocalStreams.dropStreams drops. */
export interface DropOptions {
  /** The consumer whose checkpoint goes with the stream (the retired exporter); any other consumer refuses the drop. */
  consumer?: string;
  /** Meta keys deleted in the same write (a rule exporter's kept options). */
  metaKeys?: readonly string[];
  /**
   * Drop a stream holding records: it must hold exactly this many now (GH_STREAM_IN_USE saying how
   * many otherwise). Its records and every consumer's checkpoint go in the same write; the caller
   * made sure no exporter reads it. Pending appends and waiting readers still refuse it.
   */
  records?: number;
}
import type { MetaValue } from '../../core/message.js';
import type { DiskState } from './disk-guard.js';
import type { CommitHealth } from './slow-disk.js';
