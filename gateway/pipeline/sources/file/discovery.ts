// Finding files: rotated siblings of a tailed file (rename-and-create while the gateway was down,
// copytruncate copies), by identity or by first bytes. Compressed and excluded names are skipped.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fingerprint, identityKey, type Fingerprint } from './identity.js';

async function siblings(dir: string, base: string, exclude: (name: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  // logrotate names: app.log.1, app.log-20260101, app.log.2026-01-01; also any other file in the folder.
  const related = names.filter((n) => n !== base && !exclude(n));
  related.sort((a, b) => Number(b.startsWith(base)) - Number(a.startsWith(base)) || a.localeCompare(b));
  return related.slice(0, 500).map((n) => join(dir, n));
}

async function startsWith(path: string, fp: Fingerprint): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const now = await fingerprint(fh, fp.len);
    return now.len === fp.len && now.hash === fp.hash;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A copy of a truncated file: another regular file in its folder with the same first bytes, at least minSize long. */
export async function findRotatedCopy(
  dir: string,
  base: string,
  fp: Fingerprint,
  minSize: number,
  exclude: (name: string) => boolean,
): Promise<string | undefined> {
  if (fp.len === 0) return undefined;
  for (const p of await siblings(dir, base, exclude)) {
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile() || st.size < minSize) continue;
    if (await startsWith(p, fp)) return p;
  }
  return undefined;
}

/** Where a file known by identity went (renamed in its folder), if it still exists. */
export async function findByIdentity(
  dir: string,
  base: string,
  dev: string,
  ino: string,
  fp: Fingerprint,
  exclude: (name: string) => boolean,
): Promise<string | undefined> {
  for (const p of [join(dir, base), ...(await siblings(dir, base, exclude))]) {
    const st = await stat(p, { bigint: true }).catch(() => undefined);
    if (!st?.isFile() || identityKey(st.dev, st.ino) !== identityKey(dev, ino)) continue;
    if (fp.len === 0 || (await startsWith(p, fp))) return p;
  }
  return undefined;
}
