// Dropping streams: a stream that holds nothing and that nothing reads or appends to any more (a
// retired upstream rule action's stream and its empty dead-letter stream) is undefined, its keys
// deleted. Without it each rule update that moved an action to a new destination left three keys
// on disk for ever (high-water mark, tally, the exporter's checkpoint), a stream state in memory
// at every start, and its metric series.
//
// One write: every key of the streams (segments, checkpoints, high-water mark, tally), the meta
// keys the caller names (a rule exporter's kept options) and the drop floor, in one LevelDB batch
// under the structural lock. A kill -9 leaves the batch whole or absent: the stream is still
// there (and its exporter retires again after the restart) or it is gone with its options; never
// a stream without its options holding records, or options without their stream's checkpoint.
//
// A stream holding records is dropped only when the caller says how many (DropOptions.records,
// an operator's DELETE /api/streams/{name}?records=N): its segments are deleted in the same one
// batch, so a kill -9 leaves it whole (listed with every record) or gone, never a stream trimmed
// part way or a segment without its high-water mark. Its consumers' checkpoints go with it (the
// caller checked that no exporter reads it: they are what an exporter removed from the config left).
//
// The drop floor ('D', codec.ts): the highest lastSeq of any stream dropped. A stream defined
// afresh (no key on disk) starts after it, and its new consumers at it: the same name defined
// again (a rule update bringing an action back) never reuses a sequence, so a record id
// <stream>:<seq> (deduplication downstream, an S3 object key) never names two records.
import type { Level } from 'level';
import { ERRORS } from '../../core/errors.js';
import { KEY_DROP_FLOOR, checkpointPrefix, hwmKey, metaKey, prefixEnd, readU64, u64 } from './codec.js';
import type { GroupCommitter } from './committer.js';
import type { BatchOp } from './head.js';
import type { StoreMetrics } from './metrics.js';
import type { StreamState } from './state.js';
import type { DropOptions } from './types.js';

type Db = Level<Buffer, Buffer>;

const FLOOR_KEY = Buffer.from([KEY_DROP_FLOOR]);

export interface DropDeps {
  db(): Db;
  streams: Map<string, StreamState>;
  /** Its acquire/release is the structural lock. */
  commits: Pick<GroupCommitter, 'acquire' | 'release'>;
  write(ops: BatchOp[], sync: boolean): Promise<void>;
  sync: boolean;
  metrics: Pick<StoreMetrics, 'forget'>;
  /** Told of the record bytes of a stream dropped with its records (compaction.ts gives their disk space back). */
  deleted?(s: StreamState, bytes: number): void;
  floor(): number;
  setFloor(floor: number): void;
}

/** The drop floor on disk (0 when no stream was ever dropped). */
export async function readDropFloor(db: Db): Promise<number> {
  const v = await db.get(FLOOR_KEY);
  return v !== undefined && v.length === 8 ? readU64(v, 0) : 0;
}

/** Why `s` cannot be dropped now, or undefined. */
function refusal(s: StreamState, options: DropOptions): string | undefined {
  if (options.records === undefined ? s.physRecords > 0 : s.records !== options.records) {
    return options.records === undefined ? `it holds ${s.records} records` : `it holds ${s.records} records, not ${options.records}`;
  }
  if (s.pend !== undefined || s.reserved > 0 || s.fullWaiters.length > 0) return 'appends to it are pending';
  // Dropped with its records: the checkpoints of every consumer go with it (no exporter reads it).
  const others = options.records === undefined ? [...s.consumers.keys()].filter((c) => c !== options.consumer) : [];
  if (others.length > 0) return `consumers read it (${others.join(', ')})`;
  if (s.seqWaiters.length > 0) return 'a reader waits for its next record';
  return undefined;
}

/** Every key of the stream on disk: segments (those held when dropped with its records), checkpoints, high-water mark, tally. */
async function keysOf(db: Db, s: StreamState): Promise<Buffer[]> {
  const cp = checkpointPrefix(s.name);
  const keys = [...(await db.keys({ gte: s.prefix, lt: s.end }).all()), ...(await db.keys({ gte: cp, lt: prefixEnd(cp) }).all())];
  keys.push(hwmKey(s.name), s.tallyKey);
  return keys;
}

/**
 * Drop `names` (names not known are skipped), all or none: GH_STREAM_IN_USE for the first that
 * holds records (other than `options.records` of them), has appends pending, consumers other than
 * `options.consumer` (any consumer, with `options.records`), or readers waiting.
 */
export async function dropStreams(d: DropDeps, names: readonly string[], options: DropOptions): Promise<string[]> {
  await d.commits.acquire();
  try {
    const states = names.flatMap((n) => d.streams.get(n) ?? []);
    for (const s of states) {
      const reason = refusal(s, options);
      if (reason !== undefined) throw ERRORS.GH_STREAM_IN_USE({ stream: s.name, reason }, { where: s.name });
    }
    const ops: BatchOp[] = [];
    let floor = d.floor();
    for (const s of states) {
      for (const key of await keysOf(d.db(), s)) ops.push({ type: 'del', key });
      floor = Math.max(floor, s.lastSeq);
    }
    for (const k of options.metaKeys ?? []) ops.push({ type: 'del', key: metaKey(k) });
    if (floor > d.floor()) ops.push({ type: 'put', key: FLOOR_KEY, value: u64(floor) });
    if (ops.length > 0) await d.write(ops, d.sync);
    d.setFloor(floor);
    for (const s of states) {
      d.streams.delete(s.name);
      d.metrics.forget(s.name);
      const bytes = s.physBytes;
      if (bytes > 0) {
        // Its whole key range is deleted now: compaction gives the space back (from seq 0 to its end).
        s.headSeq = 0;
        s.physRecords = 0;
        s.physBytes = 0;
        d.deleted?.(s, bytes);
      }
    }
    return states.map((s) => s.name);
  } finally {
    d.commits.release();
  }
}
