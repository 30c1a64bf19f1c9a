// Resuming after a restart (a stop, a crash, kill -9, a power cut): the saved offsets are matched
// with the files found now. A file still at its path with the same first bytes resumes at its
// committed offset; one renamed while the gateway was down is found by identity in its folder and
// read from there; one truncated (copytruncate) or replaced has the unread rest of its old content
// read from the rotated copy (same first bytes) before it is read from its start. Rotated files
// that appeared while the gateway was down, unknown to the state, are read from their start.
// Several rotated files of one path are read oldest first (orderRotated).
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { CompiledGlob } from './glob.js';
import { fingerprint, identityKey } from './identity.js';
import { findByIdentity, findRotatedCopy } from './discovery.js';
import type { FileSet } from './file-set.js';
import type { SavedFile } from './tracker-context.js';
import { findRotatedAway, LOOK_SLACK_MS, type ReadContent, type RotatedAway } from './rotated-away.js';
import type { SortedNames } from './dir-listings.js';
import type { FileTracker } from './tracker.js';
import { rotated, writtenAt } from './rotation-order.js';
import { olderFirst, SAVED_AT_PATH, SAVED_ROTATED, UNKNOWN } from './rotated-age.js';

export interface ResumeOptions {
  globs: CompiledGlob[];
  fingerprintBytes: number;
}

/** What the saved state says of a file's place among its path's files (rotated-age.ts). */
function savedRank(s: SavedFile): number {
  return s.rotatedSize !== undefined || (s.from !== undefined && s.from !== s.path) ? SAVED_ROTATED : SAVED_AT_PATH;
}

/**
 * When each path was last looked at with its saved file there (the saved `seen`; states without it:
 * `savedAt`), the earliest of its files' (see FileScanner.lastLooks): a file under a rotated name of
 * it modified since was at it after that look (scanner.ts).
 */
export function savedLooks(saved: SavedFile[], savedAt: number | undefined): Map<string, number> {
  const looks = new Map<string, number>();
  for (const s of saved) {
    const at = s.seen ?? savedAt;
    if (at === undefined || s.path !== (s.from ?? s.path)) continue;
    looks.set(s.path, Math.min(looks.get(s.path) ?? Infinity, at));
  }
  return looks;
}

export class Resume {
  /** Trackers made for saved content, and what the state said of it (orderRotated). */
  private readonly ranks = new Map<FileTracker, number>();

  constructor(
    private readonly files: FileSet,
    private readonly options: ResumeOptions,
  ) {}

  /** Match the saved offsets with the files found now (`found`: the first scan, path -> identity key). */
  async resume(saved: SavedFile[], found: Map<string, string>): Promise<void> {
    const { files } = this;
    for (const s of saved) {
      if (!s.inMemoryBytes) continue;
      files.reportVanished(
        s.path,
        s.inMemoryBytes,
        'read before a truncation in place, and only in memory until the store took them when the gateway went down (a crash, kill -9 or power cut): the file no longer holds them. At most: counted from the last committed offset, so lines of a refused chunk that the store did take are in the stream too',
      );
    }
    const byKey = new Map(saved.map((s) => [identityKey(s.dev, s.ino), s]));
    for (const [path, key] of found) {
      const s = byKey.get(key);
      byKey.delete(key);
      if (s) await this.resumeSaved(s, path);
    }
    // Files known before but not found under the globs now: renamed (or copied) while we were down.
    for (const s of byKey.values()) {
      const path = await findByIdentity(dirname(s.path), basename(s.path), s.dev, s.ino, s.fp, (n) => files.excluded(n));
      if (path) {
        if (!this.claim(path, s)) continue;
        files.logger.info(
          { file: path, was: s.path, offset: s.offset },
          `file source ${files.name}: ${s.path} was renamed to ${path} while stopped; reading it from ${s.offset}`,
        );
        continue;
      }
      const copy = await findRotatedCopy(dirname(s.path), basename(s.path), s.fp, s.offset, (n) => files.excluded(n));
      if (copy) await this.drainCopy(copy, s);
      else if (s.rotatedSize !== undefined && s.offset >= s.rotatedSize) {
        // A rotated file read to its end, gone since (logrotate compressed or removed it): not a
        // loss. (Reported as one, every restart after a rotation with compress warned of it.)
        files.logger.info({ file: s.path, offset: s.offset }, `file source ${files.name}: ${s.path}, rotated away and read to its end, is gone`);
      }
      // Read to offset; what was written after it (while stopped, before a deletion or a rotation
      // with compress) is gone, and how much is not known: perhaps nothing. Before, the warning
      // said it 'disappeared with unread data' after a clean stop with every line read.
      else
        files.reportVanished(
          s.path,
          null,
          `not found at the restart (deleted, or rotated and compressed or removed, while the gateway was stopped): what was written to it after offset ${s.offset}, where reading had got to, was not read (nothing is lost if nothing was written to it after that; rotate with delaycompress)`,
        );
    }
  }

  /**
   * Once every file is tracked (resume, the first scan, sweepRotated): the rotated files of each
   * path in the order their lines were written (rotated-age.ts: the saved state, then modification
   * times, then names), before any is read. They were stamped in the order found: the glob's or
   * the folder's listing (app.log.1, the newer, before app.log.2), the state's keys (by identity):
   * after two rotations while the source was behind, the newer file was read first (267,232 of
   * 500,000 lines out of order in the test).
   */
  async orderRotated(): Promise<void> {
    const byPath = new Map<string, FileTracker[]>();
    for (const t of this.files.trackers.values()) {
      if (!rotated(t)) continue;
      const group = byPath.get(writtenAt(t));
      if (group) group.push(t);
      else byPath.set(writtenAt(t), [t]);
    }
    for (const group of byPath.values()) {
      if (group.length < 2) continue;
      const aged = await Promise.all(
        group.map(async (t) => ({
          t,
          path: t.path,
          writtenAt: writtenAt(t),
          known: this.ranks.get(t) ?? UNKNOWN,
          mtimeMs: (await stat(t.path).catch(() => undefined))?.mtimeMs ?? Infinity,
          seq: t.seq,
        })),
      );
      aged.sort(olderFirst);
      this.files.restamp(aged.map((a) => a.t));
    }
    this.ranks.clear();
  }

  /**
   * Rotated files that appeared while the gateway was down (or before any of their records were
   * committed): siblings of a saved file (its name + a suffix, as logrotate names them), not
   * matched by the globs, modified after the last look at it before the state was committed
   * (`seen`; states without it: the commit time), holding content neither known to the state nor
   * read before (see rotated-away.ts). None of their records can have been committed (records and
   * offsets commit together), so they are read from their start, oldest first.
   */
  async sweepRotated(saved: SavedFile[], savedAt: number): Promise<void> {
    const { files } = this;
    // By the path content was written at (a rotated file read under another name: where it came from).
    const since = new Map<string, number>();
    for (const s of saved) {
      const t = s.seen === undefined ? savedAt : s.seen - LOOK_SLACK_MS;
      const at = s.from ?? s.path;
      since.set(at, Math.min(since.get(at) ?? t, t));
    }
    // Copies of saved content are read from the saved file's copy (drainCopy) or are the live file's.
    const known: ReadContent[] = [...saved.map((s) => ({ fp: s.fp, offset: s.offset, key: identityKey(s.dev, s.ino), live: true })), ...files.knownContent()];
    const candidates: Array<RotatedAway & { from: string }> = [];
    // One listing per folder (a listing per saved file made a start with 2,400 files in one folder
    // list it 2,400 times: most of its 5 s).
    const listings = new Map<string, SortedNames | undefined>();
    for (const [path, after] of since) {
      const dir = dirname(path);
      if (!listings.has(dir))
        listings.set(
          dir,
          await readdir(dir).then(
            (names) => names.sort(),
            () => undefined,
          ),
        );
      const names = listings.get(dir);
      if (names === undefined) continue;
      const found = await findRotatedAway({
        dir,
        names,
        base: basename(path),
        since: after,
        exclude: (n) => files.excluded(n),
        // Not every saved identity: a saved file resumed or found renamed is tracked by now, and its
        // saved content is `known` (live) below; an identity holding other content than saved (the
        // file truncated by copytruncate, rewritten and renamed away while stopped) is new content
        // (chaos soak, round 13: 903 lines of such a file never read, and not reported).
        skip: (p, key) => files.trackers.has(key) || this.options.globs.some((g) => g.full.test(p)),
        read: () => known,
        fingerprintBytes: this.options.fingerprintBytes,
      });
      candidates.push(...found.map((f) => ({ ...f, from: path })));
    }
    candidates.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const c of candidates) {
      if (files.trackers.has(identityKey(c.dev, c.ino))) continue; // a sibling of two saved files
      const t = files.add(c.path, c.dev, c.ino, c.fp, c.offset, undefined, c.from);
      t.detached = true;
      files.logger.info(
        { file: c.path, offset: c.offset },
        `file source ${files.name}: ${c.path} was rotated while stopped before any of it was committed; reading it from ${c.offset === 0 ? 'its start' : c.offset}`,
      );
    }
  }

  /** A saved file found at a path matching the globs: same content (resume at its offset), or truncated/replaced. */
  private async resumeSaved(s: SavedFile, path: string): Promise<void> {
    const { files } = this;
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return;
    let same = false;
    let size = 0;
    let fpNow = s.fp;
    try {
      size = (await fh.stat()).size;
      const fp = await fingerprint(fh, s.fp.len);
      same = fp.len === s.fp.len && fp.hash === s.fp.hash && size >= s.offset;
      // A state written before fingerprints grew ahead of offsets (0.1.0) may hold a short one.
      const want = Math.min(this.options.fingerprintBytes, s.offset);
      if (same && s.fp.len < want) fpNow = await fingerprint(fh, want);
    } finally {
      await fh.close();
    }
    if (same) {
      // Found under another name matching the globs (app.log renamed to app.log.1 while stopped,
      // with `app.log*`): a rotated file of the path it was at (as FileTracker.foundRenamed), read
      // before the file now at that path. (Taken for a file of its own, both were read at once.)
      this.ranks.set(files.add(path, s.dev, s.ino, fpNow, s.offset, s.headersLeft, s.from ?? s.path), savedRank(s));
      files.logger.info(
        { file: path, offset: s.offset, ...(path === s.path ? {} : { was: s.path }) },
        path === s.path
          ? `file source ${files.name}: ${path} resumes at ${s.offset}`
          : `file source ${files.name}: ${s.path} was renamed to ${path} while stopped; reading it from ${s.offset}`,
      );
      return;
    }
    // Truncated (copytruncate) or a reused inode while we were down: the old content's unread
    // rest may be in a rotated copy; the file itself is read from its start. The old content stays
    // known (read up to the saved offset), also when no copy holds more of it (copytruncate's own
    // window): its copies are not taken for content rotated away unseen, now or at a later start.
    files.readUpTo(s.fp, s.offset);
    const copy = await findRotatedCopy(dirname(path), basename(path), s.fp, s.offset, (n) => files.excluded(n));
    if (copy) await this.drainCopy(copy, s);
    files.logger.info(
      { file: path, size, saved: s, copy },
      `file source ${files.name}: ${path} was truncated or replaced while stopped; ${copy ? `reading the rest of ${copy} from ${s.offset}, then ` : ''}reading it from its start`,
    );
    files.add(path, s.dev, s.ino, { hash: '', len: 0 }, 0, undefined);
  }

  /** Read a rotated copy from a saved offset to its end, as a detached tracker. */
  private async drainCopy(copy: string, s: SavedFile): Promise<void> {
    const st = await stat(copy, { bigint: true }).catch(() => undefined);
    if (!st) return;
    this.claim(copy, s, String(st.dev), String(st.ino));
  }

  /**
   * Track a rotated file (detached) from the saved offset (`dev`/`ino`: a copy of the saved
   * file's), unless it is tracked already from as far or further. Two saved states can name one file: a copy tracked on its own and the truncated file
   * it was copied from (its rest read from the copy). Both offsets were committed for the same
   * bytes, so the further one holds; the nearer one would read committed lines again.
   */
  private claim(path: string, s: SavedFile, dev = s.dev, ino = s.ino): boolean {
    const had = this.files.trackers.get(identityKey(dev, ino));
    if (had && had.committedOffset >= s.offset) return false;
    const t = this.files.add(path, dev, ino, s.fp, s.offset, s.headersLeft, s.from ?? s.path);
    t.detached = true;
    this.ranks.set(t, savedRank(s));
    return true;
  }
}
