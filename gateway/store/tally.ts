// Per-stream tallies: what opening the store needs of a stream's segments, kept on disk so that a
// start does not read the whole backlog.
//
// Opening rebuilt each stream's counters by iterating every segment key. LevelDB keeps keys and
// values together in its table blocks, so that walk reads the whole backlog from disk: 2 GiB
// held took 2.9 s with a cold page cache on the dev VM's SSD, and at an SD card's 20-40 MB/s it
// is a minute or more, during which the broker does not listen (docs/store.md "Starting on a large
// backlog").
//
// The tally ('H' stream 0x00, beside the high-water mark) -> headSeq:u64 lastSegSeq:u64 physRecords:u64 physBytes:u64 is the state
// of the stream's segments after a write, put in the same db.batch as that write: every write that
// deletes segments (reclaim, drop-oldest, ttl), a group commit once store.tallyEveryBytes were appended
// to the stream since its last tally, and the store's close. Opening reads, per stream, the tally
// and the first segment key (one seek). Segments are only ever added at the tail and
// deleted from the head, and every delete writes a tally, so when the first key is the tally's
// headSeq, what changed since is appends after its lastSegSeq: only those keys are walked (at most
// store.tallyEveryBytes of them after a power cut, none after a clean stop). A first key that moved
// (an older gateway, which keeps no tallies, deleted segments; a store from before tallies) makes
// the stream walked whole, as before. An older gateway ignores tallies (tallyKey).
//
// Not in every commit: a tally key in every batch (first put in a 'T' range after the segments)
// made every LevelDB table span from its segments to that range, so no table of an append-only backlog could move down a level without being
// rewritten: filling 512 MiB with the exporter down wrote 1,597 MiB instead of 1,075.
import type { Level } from 'level';
import type { Logger } from 'pino';
import { KEY_HWM, KEY_SEGMENT, parseSegmentKey, readU64, seqKey, writeU64, type SegmentHead } from './codec.js';

type Db = Level<Buffer, Buffer>;

type Put = { type: 'put'; key: Buffer; value: Buffer };

/** What a tally is made from: a stream's state (state.ts StreamState; apart so no import goes back). */
export interface TallySubject {
  readonly tallyKey: Buffer;
  headSeq: number;
  lastSegSeq: number;
  physRecords: number;
  physBytes: number;
  /** Record bytes appended since its tally was last written. */
  untalliedBytes: number;
}

/** The stream state opening fills (StreamState). */
export interface OpenedStream extends TallySubject {
  readonly name: string;
  readonly prefix: Buffer;
  readonly end: Buffer;
  lastSeq: number;
  oldestAt: number | undefined;
}

/** The part of a head plan (head.ts HeadPlan) a tally needs: what a write deletes. */
export interface Deletes {
  keys: readonly Buffer[];
  physRecords: number;
  physBytes: number;
  /** The first segment that stays, if any. */
  next: SegmentHead | undefined;
}

/**
 * A tally's key: the stream's high-water mark key ('H' stream) followed by 0x00, so it sorts next
 * to the key every delete of segments already writes and a delete's batch spans no more keys than
 * before. (Under a 'T' range of its own, after the segments, every reclaim batch spanned the whole
 * stream: recovering from a full disk, compactions then rewrote the backlog they were freeing.)
 * An older gateway skips it: its scan of the 'H' range takes 8-byte values only.
 */
const TALLY_BYTES = 32;

export interface Tally {
  /** firstSeq of the oldest segment held (0: none). */
  headSeq: number;
  /** firstSeq of the newest segment held (0: none). */
  lastSegSeq: number;
  physRecords: number;
  physBytes: number;
}

export function tallyKey(stream: string): Buffer {
  const n = Buffer.from(stream, 'utf8');
  const b = Buffer.alloc(n.length + 2);
  b[0] = KEY_HWM;
  n.copy(b, 1);
  return b;
}

function tallyOp(s: TallySubject, headSeq: number, lastSegSeq: number, physRecords: number, physBytes: number): Put {
  const v = Buffer.allocUnsafe(TALLY_BYTES);
  writeU64(v, headSeq, 0);
  writeU64(v, lastSegSeq, 8);
  writeU64(v, physRecords, 16);
  writeU64(v, physBytes, 24);
  return { type: 'put', key: s.tallyKey, value: v };
}

export function parseTally(v: Buffer): Tally | undefined {
  if (v.length !== TALLY_BYTES) return undefined;
  return { headSeq: readU64(v, 0), lastSegSeq: readU64(v, 8), physRecords: readU64(v, 16), physBytes: readU64(v, 24) };
}

/**
 * The tally after a write that deletes `plan`'s segments (if any) and then adds a segment of
 * `count` records and `bytes` starting at `firstSeq` (count 0: none). Computed from the state
 * before the write: callers hold the structural lock, so nothing else changes it meanwhile.
 */
export function tallyAfter(s: TallySubject, plan: Deletes | undefined, firstSeq: number, count: number, bytes: number): Put {
  let head = s.headSeq;
  let last = s.lastSegSeq;
  let records = s.physRecords;
  let total = s.physBytes;
  if (plan !== undefined && plan.keys.length > 0) {
    records -= plan.physRecords;
    total -= plan.physBytes;
    if (plan.next !== undefined) head = plan.next.firstSeq;
    else head = last = 0;
  }
  if (count > 0) {
    if (head === 0) head = firstSeq;
    last = firstSeq;
    records += count;
    total += bytes;
  }
  return tallyOp(s, head, last, records, total);
}

/**
 * The tally a group commit carries for `s`, if any: with deletes (drop-oldest: the batch spans the
 * stream's keys anyway), or once store.tallyEveryBytes were appended since the last one.
 */
export function commitTally(s: TallySubject, plan: Deletes | undefined, firstSeq: number, count: number, bytes: number, every: number): Put | undefined {
  const deletes = plan !== undefined && plan.keys.length > 0;
  if (!deletes && (count === 0 || s.untalliedBytes + bytes < every)) return undefined;
  return tallyAfter(s, plan, firstSeq, count, bytes);
}

/** At close: the tallies of the streams appended to since theirs was written, so the next start walks nothing. */
export function closingTallies(streams: Iterable<TallySubject>): Put[] {
  const ops: Put[] = [];
  for (const s of streams) if (s.untalliedBytes > 0) ops.push(tallyAfter(s, undefined, 0, 0, 0));
  return ops;
}

/** How opening went: streams taken from their tallies, streams whose keys were walked. */
export interface OpenCounts {
  tallied: number;
  walked: number;
}

/**
 * Rebuild every stream's segment counters (streams are created through stateFor): from its tally
 * when the first segment key is the tally's head and its last segment is there (then the segments after
 * it are added), else by walking its keys.
 */
export async function openSegments(db: Db, stateFor: (name: string) => OpenedStream, log: Logger): Promise<OpenCounts> {
  const counts: OpenCounts = { tallied: 0, walked: 0 };
  const tallies = new Map<string, Tally>();
  for await (const [k, v] of db.iterator({ gte: Buffer.from([KEY_HWM]), lt: Buffer.from([KEY_HWM + 1]) })) {
    const t = k[k.length - 1] === 0 ? parseTally(v) : undefined;
    if (t) tallies.set(k.toString('utf8', 1, k.length - 1), t);
  }
  const end = Buffer.from([KEY_SEGMENT + 1]);
  let from: Buffer = Buffer.from([KEY_SEGMENT]);
  for (;;) {
    const [first] = await db.keys({ gte: from, lt: end, limit: 1 }).all();
    if (first === undefined) return counts;
    const z = first.indexOf(0, 1);
    if (z < 0) {
      // Not a stream's key: step over it (the walk of the range before tallies did the same).
      log.warn({ key: first.toString('hex') }, 'ignoring a malformed key in the segment range');
      from = Buffer.concat([first, Buffer.from([0])]);
      continue;
    }
    const s = stateFor(first.toString('utf8', 1, z));
    const t = tallies.get(s.name);
    const fh = parseSegmentKey(first, s.prefix.length);
    if (t !== undefined && t.headSeq > 0 && fh !== undefined && t.headSeq === fh.firstSeq) {
      s.headSeq = fh.firstSeq;
      s.oldestAt = fh.minAt;
      s.lastSegSeq = t.lastSegSeq;
      s.physRecords = t.physRecords;
      s.physBytes = t.physBytes;
      // The tally's last segment (for lastSeq), then the segments appended since (none after a clean stop).
      if (await walkSegments(db, s, log, t.lastSegSeq)) {
        counts.tallied++;
        from = s.end;
        continue;
      }
      // Its last segment is not there: not a state this store's writes leave. Walk the stream.
      s.headSeq = s.lastSegSeq = s.physRecords = s.physBytes = s.untalliedBytes = 0;
    }
    await walkSegments(db, s, log);
    counts.walked++;
    from = s.end;
  }
}

/**
 * Add a stream's segments to its counters, from their keys alone (values are not read): all of
 * them, or the tally's last segment `tallied` (counted in the tally already: it only gives lastSeq)
 * and those after it. False when `tallied` is not the first key found (nothing was added then).
 */
async function walkSegments(db: Db, s: OpenedStream, log: Logger, tallied?: number): Promise<boolean> {
  const it = db.keys({ gte: tallied === undefined ? s.prefix : seqKey(s.prefix, tallied), lt: s.end });
  let first = tallied !== undefined;
  try {
    for (;;) {
      const keys = await it.nextv(1024);
      if (keys.length === 0) return !first;
      for (const k of keys) {
        if (first) {
          if (parseSegmentKey(k, s.prefix.length)?.firstSeq !== tallied) return false;
          first = false;
        }
        const h = parseSegmentKey(k, s.prefix.length);
        if (!h) {
          log.warn({ key: k.toString('hex'), stream: s.name }, 'malformed segment key: it will be deleted by the next reclaim');
          continue;
        }
        if (s.headSeq === 0) {
          s.headSeq = h.firstSeq;
          s.oldestAt = h.minAt;
        }
        if (h.firstSeq !== tallied) {
          s.physRecords += h.count;
          s.physBytes += h.bytes;
          s.untalliedBytes += h.bytes;
        }
        if (h.firstSeq > s.lastSegSeq) s.lastSegSeq = h.firstSeq;
        const last = h.firstSeq + h.count - 1;
        if (last > s.lastSeq) s.lastSeq = last;
      }
    }
  } finally {
    await it.close();
  }
}
