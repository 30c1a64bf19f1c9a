// Finding the files to tail while running: expand the globs, and turn each new match into a
// tracker read from its start (or from the end at a first start with initialPosition end_of_file).
// A new match that is a copy of content already read (copytruncate's rotated copy matching the
// globs too, a cp of a tailed file) starts where that content was read up to, so nothing is read
// twice; a copy of a file still being tailed waits for that file's truncation (its tracker reads
// the copy's tail then) before it is tailed on its own. A new match under a rotated name of a
// tailed path whose file was renamed away, modified since the last look at that path, was at that
// path between two looks: a rotated file of it (rotatedUnseen).
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { expandGlob, type CompiledGlob } from './glob.js';
import { fingerprint, fingerprintOf, identityKey, readHead, type Fingerprint } from './identity.js';
import type { FileSet } from './file-set.js';
import type { FileTracker } from './tracker.js';
import { rotated, writtenAt } from './rotation-order.js';
import { LOOK_SLACK_MS } from './rotated-away.js';
import { olderFirst, rotationSuffix, UNKNOWN } from './rotated-age.js';

/** How long a copy of a tailed file waits for that file's truncation before it is tailed on its own. */
const PENDING_COPY_MS = 30_000;

export interface ScannerOptions {
  globs: CompiledGlob[];
  fingerprintBytes: number;
  initialPosition: 'start_of_file' | 'end_of_file';
  /** Monotonic ms (how long a copy of a tailed file has waited for its truncation). */
  monotonic(): number;
  /** Paths a pattern lists at most (MAX_GLOB_MATCHES; lower in tests). */
  maxGlobMatches?: number;
}

export class FileScanner {
  /**
   * Copies of a file being tailed (identity key -> since when), bounded by the globs' matches.
   * By identity, not path: logrotate moves each copy on to the next name and puts the next copy
   * at the old one. A copy keeps its wait when renamed, and a new copy never inherits the wait of
   * the file that was at its path before (after PENDING_COPY_MS it would be tailed at once, from
   * the live tracker's offset of that moment, while the tracker still reads on in the live file).
   */
  private readonly pendingCopies = new Map<string, number>();
  /** Folders on the globs' way that could not be listed at the last scan (reported unreadable until they can). */
  private unlistable = new Set<string>();

  constructor(
    private readonly files: FileSet,
    private readonly options: ScannerOptions,
  ) {}

  /** Current glob matches: path -> identity key (non-regular entries reported as unreadable). */
  async scan(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unlistable = new Set<string>();
    const report = (dir: string, err: NodeJS.ErrnoException): void => {
      unlistable.add(dir);
      this.files.markUnreadable(dir, `folder cannot be listed: ${err.message}`);
    };
    for (const g of this.options.globs) {
      let limited = false;
      const onLimit = (limit: number): void => {
        limited = true;
        this.files.markGlobLimited(g.pattern, limit);
      };
      const paths = await expandGlob(g, report, { onLimit, ...(this.options.maxGlobMatches ? { maxEntries: this.options.maxGlobMatches } : {}) });
      if (!limited) this.files.globWithinLimit(g.pattern);
      for (const path of paths) {
        if (this.files.excluded(basename(path)) || out.has(path)) continue;
        const st = await stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => err);
        if (st instanceof Error) {
          if (st.code !== 'ENOENT') this.files.markUnreadable(path, st.message);
          continue;
        }
        if (!st.isFile()) {
          this.files.markUnreadable(path, 'not a regular file');
          continue;
        }
        out.set(path, identityKey(st.dev, st.ino));
      }
    }
    for (const dir of this.unlistable) if (!unlistable.has(dir)) this.files.unreadable.delete(dir);
    this.unlistable = unlistable;
    return out;
  }

  /**
   * New matches become trackers; known ones get their (possibly new) path. `firstRun`: the source
   * starts without a saved state (initialPosition applies to the files present now). `looks`: at a
   * start, when each tailed path was last looked at with its file there, from the saved state
   * (the trackers were made just now); later, the trackers say it.
   */
  async discover(found: Map<string, string>, firstRun: boolean, looks?: ReadonlyMap<string, number>): Promise<void> {
    const { files } = this;
    // A pending copy no longer matched (adopted meanwhile is removed below; deleted) is forgotten.
    const matched = new Set(found.values());
    for (const key of this.pendingCopies.keys()) if (!matched.has(key)) this.pendingCopies.delete(key);
    // Before this scan moves a tracker to its new name or adds one at a path (rotatedUnseen).
    const looked = firstRun ? undefined : (looks ?? this.lastLooks(found));
    const added: FileTracker[] = [];
    /** New trackers of content never read, with their modification time. */
    const unknown = new Map<FileTracker, number>();
    for (const [path, key] of found) {
      const known = files.trackers.get(key);
      if (known) {
        // (Still found at its path too: a hard link, not a rename.)
        if (known.path !== path && !known.detached && found.get(known.path) !== key) await this.foundRenamed(known, path);
        continue;
      }
      const fh = await open(path, 'r').catch((err: Error) => err);
      if (fh instanceof Error) {
        files.markUnreadable(path, fh.message);
        continue;
      }
      let size: number;
      let mtimeMs: number;
      let fp: Fingerprint;
      let copied: { offset: number; live: boolean } | undefined;
      try {
        const st = await fh.stat({ bigint: true });
        // The identity comes from scan()'s stat, the content from this open: a rotation in between
        // (logrotate moving app.log.1 on to app.log.2 and copying anew to app.log.1) puts another
        // file at the path. A tracker pairing one file's identity with another's first bytes sees
        // a "truncation" at its first look and reads both files' content again. Left to the next
        // scan, which finds each file at its new name.
        if (identityKey(st.dev, st.ino) !== key) continue;
        size = Number(st.size);
        mtimeMs = Number(st.mtimeMs);
        fp = await fingerprint(fh, Math.min(size, this.options.fingerprintBytes));
        copied = firstRun ? undefined : await this.copiedFrom(fh, key, size);
      } catch (err) {
        // Its first bytes cannot be read (EIO on a failing card): unreadable, looked at again at the
        // next scan, and this scan goes on with the other files. (The error ended the scan: no other
        // new file was found, nor any open one checked, until this one could be read.)
        files.markUnreadable(path, err instanceof Error ? err.message : String(err));
        continue;
      } finally {
        await fh.close();
      }
      files.unreadable.delete(path);
      const [dev, ino] = key.split(':') as [string, string];
      let offset = firstRun && this.options.initialPosition === 'end_of_file' ? size : 0;
      if (!firstRun) {
        // A copy of content already read (copytruncate's rotated copy matching the glob too).
        if (copied?.live) {
          // Copy of a file still being tailed: its tracker reads the copy's tail itself once it
          // sees the truncation. Tail the copy separately only if no truncation comes (a plain cp).
          const since = this.pendingCopies.get(key) ?? this.options.monotonic();
          this.pendingCopies.set(key, since);
          if (this.options.monotonic() - since < PENDING_COPY_MS) continue;
        }
        this.pendingCopies.delete(key);
        if (copied !== undefined) {
          offset = copied.offset;
          files.logger.info({ file: path, offset }, `file source ${files.name}: ${path} is a copy of a tailed file, read from ${offset}`);
        }
      }
      const t = files.add(path, dev, ino, fp, offset, undefined);
      added.push(t);
      if (!firstRun && copied === undefined) unknown.set(t, mtimeMs);
    }
    if (looked && unknown.size > 0) await this.rotatedUnseen(found, added, unknown, looked);
  }

  /**
   * When each tailed path was last looked at with its file there: the earliest last look of the
   * trackers at the path their lines were written at (one detached there was last seen there before
   * its rotation). Not the latest: a scan that listed the folder before a rotation and looked at
   * the path after it found the new file there while the files between were not listed yet (with
   * the latest, the next scan found them modified before that look, and took them for files of
   * their own: 1 run in 4 of the test rotating three times between two looks). Only when the scan
   * found a new file: most scans find none, and this walks every tracker.
   */
  private lastLooks(found: Map<string, string>): Map<string, number> {
    const looks = new Map<string, number>();
    if ([...found.values()].every((key) => this.files.trackers.has(key))) return looks;
    for (const t of this.files.trackers.values()) {
      if (t.path === writtenAt(t)) looks.set(t.path, Math.min(looks.get(t.path) ?? Infinity, t.pathSeenAt));
    }
    for (const [path, at] of this.files.lookedBeforeRotation) looks.set(path, Math.min(looks.get(path) ?? Infinity, at));
    return looks;
  }

  /**
   * New files of unknown content under a rotated name of a tailed path (app.log.1 for app.log,
   * with a glob matching it: `app.log*`) whose file was renamed away (a rotated file of it is
   * tracked), modified after the last look at it: created at that path and rotated away again
   * before the source looked (twice between two looks, or while stopped). Their lines were
   * written at that path: they are its rotated files, read after those found before and before
   * the file now at the path, oldest first (rotated-age.ts), where they were tailed as files of
   * their own, at the same time as those (rotation-order.ts). `found`: this scan's matches;
   * `added`: its new trackers.
   */
  private async rotatedUnseen(
    found: ReadonlyMap<string, string>,
    added: FileTracker[],
    unknown: Map<FileTracker, number>,
    looked: ReadonlyMap<string, number>,
  ): Promise<void> {
    const { files } = this;
    const rotatedNow: FileTracker[] = [];
    for (const [t, mtimeMs] of unknown) {
      const from = this.rotatedFromPath(t, mtimeMs, found, looked);
      if (from === undefined) continue;
      // The file tracked at the path and no longer there (no look saw it yet): rotated, as its look
      // would find it. Not at the path any more, a rotated file found after it would count as older
      // (rotation-order.ts: a rotated one precedes the file at the path), and read before its rest.
      for (const u of [...files.writtenAt(from)]) {
        if (!u.detached && u.path === from && found.has(from) && found.get(from) !== u.key) await u.detach('renamed');
      }
      files.rotatedFrom(t, from);
      rotatedNow.push(t);
      files.logger.info(
        { file: t.path, from, mtimeMs, lookedAt: looked.get(from) },
        `file source ${files.name}: ${t.path} was at ${from} and rotated away before it was seen there; reading it after the files rotated before it, and before the file now at ${from}`,
      );
    }
    if (rotatedNow.length === 0) return;
    const aged = rotatedNow.map((t) => ({ t, path: t.path, writtenAt: writtenAt(t), known: UNKNOWN, mtimeMs: unknown.get(t)!, seq: t.seq }));
    aged.sort(olderFirst);
    // Before this scan's other new files: the new file at the path is newer than they are.
    const isRotated = new Set(rotatedNow);
    files.restamp([...aged.map((a) => a.t), ...added.filter((t) => !isRotated.has(t))]);
  }

  /**
   * The tailed path `t` (new, at a rotated name) was rotated away from, if any: the shortest name
   * that fits. Its file was renamed away: a rotated file of it is tracked, or was (retired since:
   * FileSet.lookedBeforeRotation), or the path holds another file than the one tracked there
   * (the look that detaches it comes after the scan). (A path this scan did not list is not taken
   * for gone: a pattern matching more than maxGlobMatches lists only some of its files.)
   */
  private rotatedFromPath(t: FileTracker, mtimeMs: number, found: ReadonlyMap<string, string>, looked: ReadonlyMap<string, number>): string | undefined {
    const dir = dirname(t.path);
    const name = basename(t.path);
    for (let i = 1; i < name.length; i++) {
      if (rotationSuffix(name.slice(0, i), name) === undefined) continue;
      const from = join(dir, name.slice(0, i));
      const at = looked.get(from);
      if (at === undefined || mtimeMs <= at - LOOK_SLACK_MS) continue;
      if (this.files.lookedBeforeRotation.has(from)) return from;
      for (const u of this.files.writtenAt(from)) if (u !== t && (rotated(u) || (found.has(from) && found.get(from) !== u.key))) return from;
    }
    return undefined;
  }

  /**
   * A tracked file found under another name matching the globs (app.log renamed to app.log.1, with
   * `app.log*`): a rotated file of the path it was at, read on under its new name. The file now
   * at its old path waits until it is read to its size now (FileTracker.foundRenamed). (Before, it
   * was only moved: tailed as a file of its own at the same time as the new file at its old path,
   * and their lines interleaved.)
   */
  private async foundRenamed(t: FileTracker, path: string): Promise<void> {
    const was = t.path;
    // Its size now: through its handle, or (not open) under its new name, as OpenBudget.reopen does.
    const size = (await (t.fh ? t.fh.stat() : stat(path)).catch(() => undefined))?.size;
    // Seen from its path meanwhile (check detached it: drained there), or moved by another scan.
    if (t.detached || t.path !== was) return;
    t.foundRenamed(path, size);
    this.files.movePath(t, path);
  }

  /**
   * Whether a file (open as `fh`, identity `key`) starts with content read before: where that
   * content was read up to, and whether it is still tailed.
   */
  private async copiedFrom(fh: FileHandle, key: string, size: number): Promise<{ offset: number; live: boolean } | undefined> {
    const live = [...this.files.trackers.values()].filter((t) => !t.detached).map((t) => ({ fp: t.fp, offset: t.splitter.safeOffset(), live: true }));
    // What was read from this very file first, furthest first (a rotated copy tailed on its own,
    // retired once drained, then moved on by logrotate: its retirement says where it ended). An
    // entry of other files with the same first bytes may say less (where the truncated original
    // was left): taken first, it had the copy read again from there at each of its renames.
    const read = this.files.readContent.map((c) => ({ fp: c.fp, offset: c.offset, live: false, own: c.key === key }));
    const own = read.filter((c) => c.own).sort((a, b) => b.offset - a.offset);
    const candidates = [...live, ...own, ...read.filter((c) => !c.own)];
    // Only fingerprints long enough to tell content apart (a few bytes could match by chance).
    const wanted = candidates.filter((c) => c.fp.len >= Math.min(64, this.options.fingerprintBytes) && c.fp.len <= size);
    if (wanted.length === 0) return undefined;
    // The file's start read once and hashed once per length: a folder of thousands of tailed files
    // (most fingerprints have the same length) made each new file read its start once per file.
    const head = await readHead(fh, Math.max(...wanted.map((c) => c.fp.len)));
    const hashes = new Map<number, string | undefined>();
    for (const c of wanted) {
      if (!hashes.has(c.fp.len)) hashes.set(c.fp.len, head.length >= c.fp.len ? fingerprintOf(head.subarray(0, c.fp.len)).hash : undefined);
      if (hashes.get(c.fp.len) === c.fp.hash) return { offset: Math.min(c.offset, size), live: c.live };
    }
    return undefined;
  }
}
