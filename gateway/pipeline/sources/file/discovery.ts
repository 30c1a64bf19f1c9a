// Finding files: rotated siblings of a tailed file (rename-and-create while the gateway was down,
// copytruncate copies), by identity or by first bytes. Compressed and excluded names are skipped.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fingerprintOf, identityKey, sameStart, type Fingerprint } from './identity.js';

async function siblings(dir: string, base: string, exclude: (name: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  // logrotate names: app.log.1, app.log-20260101, app.log.2026-01-01; also any other file in the folder.
  const related = names.filter((n) => n !== base && !exclude(n));
  // code-point order, not localeCompare: its first call maps ICU's collation data (3.2 MiB of RSS for good)
  related.sort((a, b) => Number(b.startsWith(base)) - Number(a.startsWith(base)) || (a < b ? -1 : a > b ? 1 : 0));
  return related.slice(0, 500).map((n) => join(dir, n));
}

async function startsWith(path: string, fp: Fingerprint): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    return await sameStart(fh, fp);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A rotated copy found open: what was checked (size, first bytes) is what the handle reads. */
export interface OpenCopy {
  path: string;
  /** device:inode of the copy. */
  key: string;
  fh: FileHandle;
}

/** Passes over the folder when it changed while it was searched (logrotate moving copies on). */
const COPY_SEARCH_PASSES = 3;

/**
 * A copy of a truncated file, open: another regular file in its folder with the same first bytes,
 * at least minSize long. The caller closes `fh`.
 *
 * logrotate moves its copies on (app.log.1 to app.log.2, then a new app.log.1) while the folder is
 * searched: a copy listed as app.log.1 can be at app.log.2 (a name not listed yet) when it is
 * looked at, and another file at app.log.1. So the copy is checked on the handle that will read
 * it, and a search that found nothing is repeated while the names it looked at held other files
 * (a miss that is only a race would make the caller take the copy's content for lost, and a copy
 * found later for unread from where the truncated file was left).
 */
export async function openRotatedCopy(
  dir: string,
  base: string,
  fp: Fingerprint,
  minSize: number,
  exclude: (name: string) => boolean,
): Promise<OpenCopy | undefined> {
  if (fp.len === 0) return undefined;
  return searchWhileNamesMove(
    () => siblings(dir, base, exclude),
    (p, st) => (st.isFile() && st.size >= BigInt(minSize) ? openIfCopy(p, fp, minSize) : undefined),
  );
}

/**
 * The first of `names()` that `check` accepts (given its stat). A search that found nothing is
 * repeated, at most COPY_SEARCH_PASSES times, while the names it looked at held other files than in
 * the pass before (logrotate moving names on under it): a miss that is only a race would make the
 * caller take a file for gone.
 */
async function searchWhileNamesMove<T>(
  names: () => Promise<string[]>,
  check: (path: string, st: BigIntStats) => Promise<T | undefined> | undefined,
): Promise<T | undefined> {
  let before: Map<string, string> | undefined;
  for (let pass = 0; pass < COPY_SEARCH_PASSES; pass++) {
    const seen = new Map<string, string>();
    for (const p of await names()) {
      const st = await stat(p, { bigint: true }).catch(() => undefined);
      if (!st) continue;
      seen.set(p, identityKey(st.dev, st.ino));
      const found = await check(p, st);
      if (found !== undefined) return found;
    }
    if (before !== undefined && sameEntries(before, seen)) return undefined;
    before = seen;
  }
  return undefined;
}

/**
 * Whether a rotated copy of the file at `path` that starts with `chunk` (compared up to `maxBytes`)
 * is tracked on its own (`isTracked`: by device:inode).
 */
export async function trackedCopyStartsWith(
  path: string,
  chunk: Buffer,
  maxBytes: number,
  exclude: (name: string) => boolean,
  isTracked: (key: string) => boolean,
): Promise<boolean> {
  const len = Math.min(chunk.length, maxBytes);
  const copy = await openRotatedCopy(dirname(path), basename(path), fingerprintOf(chunk.subarray(0, len)), len, exclude);
  if (!copy) return false;
  await copy.fh.close().catch(() => undefined);
  return isTracked(copy.key);
}

/** The file at `path`, open, if it is (on the handle) a regular file at least minSize long starting with fp. */
async function openIfCopy(path: string, fp: Fingerprint, minSize: number): Promise<OpenCopy | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  let keep = false;
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile() || st.size < BigInt(minSize) || !(await sameStart(fh, fp))) return undefined;
    keep = true;
    return { path, key: identityKey(st.dev, st.ino), fh };
  } finally {
    if (!keep) await fh.close().catch(() => undefined);
  }
}

function sameEntries(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** A copy of a truncated file: another regular file in its folder with the same first bytes, at least minSize long. */
export async function findRotatedCopy(
  dir: string,
  base: string,
  fp: Fingerprint,
  minSize: number,
  exclude: (name: string) => boolean,
): Promise<string | undefined> {
  const copy = await openRotatedCopy(dir, base, fp, minSize, exclude);
  await copy?.fh.close().catch(() => undefined);
  return copy?.path;
}

/**
 * Where a file known by identity went (renamed in its folder), if it still exists. As for a copy
 * (openRotatedCopy), a search that found nothing is repeated while the names it looked at held
 * other files: logrotate moving names on (app.log.2 to app.log.3, app.log.1 to app.log.2) can move
 * the file from a name not looked at yet to one looked at already, and a miss would take it for
 * deleted (found again by the next scan under its new name, as a new file: read again from 0).
 */
export async function findByIdentity(
  dir: string,
  base: string,
  dev: string,
  ino: string,
  fp: Fingerprint,
  exclude: (name: string) => boolean,
): Promise<string | undefined> {
  const key = identityKey(dev, ino);
  return searchWhileNamesMove(
    async () => [join(dir, base), ...(await siblings(dir, base, exclude))],
    async (p, st) => (st.isFile() && identityKey(st.dev, st.ino) === key && (fp.len === 0 || (await startsWith(p, fp))) ? p : undefined),
  );
}
