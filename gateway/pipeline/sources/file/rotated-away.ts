// Content rotated away between two looks at a tailed path. The source looks at each file only now
// and then (every scanIntervalMs, or when fs.watch reports something, and events coalesce), so two
// rotations can happen between two looks: a file created at the path and renamed away again
// (rename and create twice), or content written after a truncation and copied away by a second
// copytruncate. That content never was at the path when the source looked, but it was written
// after its last look: it sits in a sibling (the path's name + a suffix, as logrotate names them)
// modified since then. Such siblings are read, unless their content is known:
// - tracked by identity, or matched by the globs (then the scanner tails them on their own);
// - a copy of content a tracker is reading (it reads the copy's tail when it sees the truncation);
// - content read before up to an offset (a retired rotated file, a copy read after a truncation):
//   read from that offset if it grew since, else skipped;
// - a copy of what the path holds now (a copytruncate whose truncate is still to come, a `cp`).
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { fingerprint, identityKey, readHead, type Fingerprint } from './identity.js';
import { findRotatedCopy } from './discovery.js';
import { namesStartingWith, type SortedNames } from './dir-listings.js';

/**
 * Content rotated away between two looks was written after the first one (the look found the path
 * holding the file it tracks, not truncated), but file timestamps come from the kernel's coarse
 * clock, up to a tick (1-10 ms) behind Date.now(): a sibling modified this long before the look is
 * still a candidate. (Known content is excluded by the rules above, not by time.)
 */
export const LOOK_SLACK_MS = 100;
/** Siblings examined per sweep (a folder with thousands of rotated files is not walked whole). */
const MAX_SIBLINGS = 500;

/** Content read (or being read) up to an offset: known by its first bytes, and its identity when it is that file. */
export interface ReadContent {
  fp: Fingerprint;
  offset: number;
  /** device:inode of the file it was read from, when known. */
  key?: string;
  /** Still tailed by a tracker: its copies are that tracker's to read, never read on their own. */
  live?: boolean;
  /** The fingerprinted bytes themselves, when held: a sibling shorter than them is compared with their start. */
  head?: Buffer;
}

export interface RotatedAway {
  path: string;
  dev: string;
  ino: string;
  /** Where to read it from: 0, or where its content was read up to before. */
  offset: number;
  /** The content it starts with, when it is known content that grew. */
  fp: Fingerprint;
  mtimeMs: number;
  /** Its size when found (logged: which file a decision was about, when names move on). */
  size: number;
}

export interface SweepQuery {
  dir: string;
  /** The tailed file's name: siblings are the names that start with it. */
  base: string;
  /** Only siblings modified after this (epoch ms). */
  since: number;
  exclude(name: string): boolean;
  /** Siblings that are someone else's to read (tracked identity, matched by the globs). */
  skip(path: string, key: string): boolean;
  /**
   * Content read so far (FileSet.knownContent), asked for only once a sibling is a candidate: most
   * sweeps find none, and building it costs one entry per tracker (a first line in each of 1,000
   * empty files made 1,000 sweeps build 1,000 entries each: 4 of the 10 s of CPU they took, and
   * most of the GC).
   */
  read(): readonly ReadContent[];
  fingerprintBytes: number;
  /**
   * The folder's names, sorted (dir-listings.ts), when the caller listed it already: one listing
   * per folder at start, not per saved file; shared by sweeps at about the same time later.
   */
  names?: SortedNames;
}

export async function findRotatedAway(q: SweepQuery): Promise<RotatedAway[]> {
  let names: SortedNames;
  try {
    names = q.names ?? (await readdir(q.dir)).sort();
  } catch {
    return [];
  }
  const siblings = namesStartingWith(names, q.base)
    .filter((x) => !q.exclude(x))
    .slice(0, MAX_SIBLINGS);
  if (siblings.length === 0) return [];
  const minLen = Math.min(64, q.fingerprintBytes);
  /** A regular file with content, modified since the look. */
  const candidate = (st: BigIntStats): boolean => st.isFile() && st.size > 0n && Number(st.mtimeMs) > q.since;
  const live = await openQuietly(join(q.dir, q.base));
  const out: RotatedAway[] = [];
  let read: readonly ReadContent[] | undefined;
  try {
    const liveSize = live ? (await live.stat()).size : 0;
    for (const n of siblings) {
      const p = join(q.dir, n);
      // (stat first: opening a FIFO for reading would block)
      const named = await stat(p, { bigint: true }).catch(() => undefined);
      if (!named || !candidate(named)) continue;
      const namedKey = identityKey(named.dev, named.ino);
      if (q.skip(p, namedKey)) continue;
      const fh = await openQuietly(p);
      if (!fh) continue;
      try {
        // Identity, size and age from the handle whose bytes are compared below: logrotate moves
        // copies on (app.log.1 to app.log.2, a new app.log.1) between a stat and an open, and the
        // first copy, known content, was taken for new content by the stat's identity and size
        // paired with the next copy's first bytes (streamed twice: 3 runs in ~300 of the
        // copytruncate-twice kill -9 test under load).
        const st = await fh.stat({ bigint: true });
        if (!candidate(st)) continue;
        const key = identityKey(st.dev, st.ino);
        if (key !== namedKey && q.skip(p, key)) continue;
        const size = Number(st.size);
        let from: { offset: number; fp: Fingerprint } | undefined = { offset: 0, fp: { hash: '', len: 0 } };
        read ??= q.read();
        for (const r of read) {
          if (r.key !== key && Math.min(r.fp.len, size) < minLen) continue;
          if (r.fp.len > size) {
            // Shorter than the known content's fingerprint (a small file copied before more of it
            // was read): known when it is all the start of that content; then nothing in it is new.
            if (r.head === undefined || r.head.length < size || !(await readHead(fh, size)).equals(r.head.subarray(0, size))) continue;
            from = undefined;
            break;
          }
          if (r.fp.len > 0 && (await fingerprint(fh, r.fp.len)).hash !== r.fp.hash) continue;
          from = r.live || size <= r.offset ? undefined : { offset: r.offset, fp: r.fp };
          break;
        }
        // A copy of what the path holds now: the path's file has all of the sibling's first bytes.
        if (from?.offset === 0 && live) {
          const len = Math.min(size, q.fingerprintBytes);
          if (liveSize >= len && (await fingerprint(fh, len)).hash === (await fingerprint(live, len)).hash) from = undefined;
        }
        if (from) out.push({ path: p, dev: String(st.dev), ino: String(st.ino), offset: from.offset, fp: from.fp, mtimeMs: Number(st.mtimeMs), size });
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
  } finally {
    await live?.close().catch(() => undefined);
  }
  // Oldest first, as they were written.
  return out.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

/**
 * A file was truncated at `pos` and no rotated copy holds its content from there on: what is known
 * lost, if anything. `knownSize`: the size seen before the truncation (bytes past `pos` were seen
 * and not read); `missed`: newer copies found (a second rotation came, so the older copy, now gone,
 * may have held more than was read). Undefined when nothing is known lost.
 */
export async function lossWithoutCopy(q: {
  dir: string;
  base: string;
  fp: Fingerprint;
  pos: number;
  knownSize: number;
  missed: number;
  exclude(name: string): boolean;
}): Promise<{ bytes: number | null; why: string } | undefined> {
  // A copy ending before `pos` was read whole: the reader read on into what was written after
  // copytruncate's copy, before its truncate (those lines are in no file).
  const short = await findRotatedCopy(q.dir, q.base, q.fp, 0, q.exclude);
  if (q.knownSize > q.pos) {
    return {
      bytes: q.knownSize - q.pos,
      why: short
        ? `written after copytruncate copied it to ${short} and truncated before they were read (prefer create to copytruncate)`
        : `truncated at ${q.pos} before they were read, and no rotated copy of them found (compressed or deleted before it was read: rotate with delaycompress, not twice within scanIntervalMs)`,
    };
  }
  if (!short && q.missed > 0) {
    return {
      bytes: null,
      why: `rotated twice before it was looked at again, and the older copy (its content from offset ${q.pos} on) was compressed or deleted before it was read (rotate with delaycompress, not twice within scanIntervalMs)`,
    };
  }
  return undefined;
}

function openQuietly(path: string): Promise<FileHandle | undefined> {
  return open(path, 'r').catch(() => undefined);
}
