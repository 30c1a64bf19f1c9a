// Opening (and reopening after a failed write) rebuilds every stream's in-memory state from the
// keys on disk: segment tallies or keys (counters, head, lastSeq; tally.ts), checkpoints and
// high-water marks.
import type { Level } from 'level';
import type { Logger } from 'pino';
import { KEY_CHECKPOINT, KEY_HWM, readU64 } from './codec.js';
import { openSegments, type OpenCounts } from './tally.js';
import type { StreamState } from './state.js';

type Db = Level<Buffer, Buffer>;

/**
 * Rebuild the state of every stream found on disk (streams are created through stateFor): its
 * segment counters from its tally or its keys (tally.ts), then checkpoints and high-water marks.
 */
export async function scanStreams(db: Db, stateFor: (name: string) => StreamState, log: Logger): Promise<OpenCounts> {
  const counts = await openSegments(db, stateFor, log);
  await scanCheckpoints(db, stateFor);
  return counts;
}

/**
 * Consumers' checkpoints and the high-water marks (lastSeq survives reclaim of every segment).
 * A stream's lastSeq is never below a checkpoint of its own: a stream defined after a drop starts
 * past the drop floor (drop.ts) and its consumer's checkpoint is written there at once, while its
 * high-water mark comes with its first commit. Stopped or killed before that, it was reopened with
 * the checkpoint and no mark: its sequences started at 1 again, below the checkpoint, and every
 * record appended after the restart counted as delivered, never exported (chaos seed 72 --actions:
 * 28,383 acknowledged records). Such a stream (no record held) starts at its checkpoint again; so
 * does one holding records below its checkpoint (a repaired store that lost its newest table).
 */
async function scanCheckpoints(db: Db, stateFor: (name: string) => StreamState): Promise<void> {
  const highest = new Map<StreamState, number>();
  for await (const [k, v] of db.iterator({ gte: Buffer.from([KEY_CHECKPOINT]), lt: Buffer.from([KEY_CHECKPOINT + 1]) })) {
    const z = k.indexOf(0, 1);
    if (z < 0 || v.length !== 8) continue;
    const s = stateFor(k.toString('utf8', 1, z));
    const cp = readU64(v, 0);
    s.consumers.set(k.toString('utf8', z + 1), cp);
    highest.set(s, Math.max(highest.get(s) ?? 0, cp));
  }
  for await (const [k, v] of db.iterator({ gte: Buffer.from([KEY_HWM]), lt: Buffer.from([KEY_HWM + 1]) })) {
    if (v.length !== 8) continue;
    const s = stateFor(k.toString('utf8', 1));
    s.lastSeq = Math.max(s.lastSeq, readU64(v, 0));
  }
  for (const [s, cp] of highest) {
    if (cp <= s.lastSeq) continue;
    s.lastSeq = cp;
    // With records held it is a damaged store's (repair.ts: the newest segments and the mark were
    // in a lost table): sequences at or below the checkpoint would count as delivered, never sent.
    if (s.physRecords === 0) s.seqBase = cp;
  }
}
