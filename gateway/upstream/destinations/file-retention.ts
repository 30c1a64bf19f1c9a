// The file destination's retention (maxTotalBytes): an appliance left alone for months archived
// every record into <dir>/YYYY/MM/DD/HH/ for ever, until the disk was full; then exports stopped
// ("export folder ... is full"), the stream filled and publishes were refused. With maxTotalBytes,
// each time a file is closed (and at start) the export files under dir are listed and the oldest
// closed ones deleted until their total fits; the file being written is never deleted. Only files
// the destination writes are touched (<stream>-<seq, 12 digits or more>-<epoch ms>.ndjson[.gz]
// under the four numeric partition levels); empty partition folders left behind are removed.
import { readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * An export file's name: stream, first sequence (zero-padded to 12 digits, more past 10^12), epoch
 * ms (file.ts openFile). Exactly 12 was matched: the files of a stream past 10^12 records (231 days
 * at 50,000/s, 6 years at 5,000) were no export files to the retention, kept for ever and not
 * counted, and the disk filled as with no maxTotalBytes.
 */
const EXPORT_FILE = /-(\d{12,16})-(\d{1,15})\.ndjson(?:\.gz)?$/;
/** YYYY, MM, DD, HH (file.ts partitionOf). */
const PARTITION_LEVELS = [/^\d{4}$/, /^\d{2}$/, /^\d{2}$/, /^\d{2}$/];

export interface ExportFile {
  path: string;
  bytes: number;
  /** Oldest first: partition, then the time the file was opened, then its first sequence. */
  order: string;
}

export interface RetentionResult {
  deleted: number;
  deletedBytes: number;
  /** Bytes of the export files left (the open one included). */
  keptBytes: number;
  /** The first deletion that failed (permission...), if any: the next pass tries again. */
  error?: string;
}

async function subfolders(dir: string, level: RegExp): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && level.test(e.name)).map((e) => e.name);
}

/** The export files under dir (files of other names, and other folders, are not looked at). */
export async function listExportFiles(dir: string): Promise<ExportFile[]> {
  let folders = [''];
  for (const level of PARTITION_LEVELS) {
    const next: string[] = [];
    for (const f of folders) for (const s of await subfolders(join(dir, f), level)) next.push(f ? `${f}/${s}` : s);
    folders = next;
  }
  const out: ExportFile[] = [];
  for (const partition of folders) {
    const entries = await readdir(join(dir, partition), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const m = e.isFile() ? EXPORT_FILE.exec(e.name) : null;
      if (!m) continue;
      const path = join(dir, partition, e.name);
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      out.push({ path, bytes: st.size, order: `${partition}/${m[2]!.padStart(15, '0')}/${m[1]!.padStart(16, '0')}` });
    }
  }
  return out.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
}

/** Delete the oldest export files under dir, never `openPath`, until they total at most maxTotalBytes. */
export async function enforceRetention(dir: string, maxTotalBytes: number, openPath?: string): Promise<RetentionResult> {
  const files = await listExportFiles(dir);
  let kept = files.reduce((n, f) => n + f.bytes, 0);
  const result: RetentionResult = { deleted: 0, deletedBytes: 0, keptBytes: kept };
  const emptied = new Set<string>();
  for (const f of files) {
    if (kept <= maxTotalBytes) break;
    if (f.path === openPath) continue;
    const gone = await unlink(f.path).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        // (removed meanwhile by someone else: no longer counts, and not ours to count)
        if (err.code === 'ENOENT') return false;
        result.error = `cannot delete ${f.path}: ${err.message}`;
        return undefined;
      },
    );
    if (gone === undefined) break;
    kept -= f.bytes;
    emptied.add(dirname(f.path));
    if (!gone) continue;
    result.deleted++;
    result.deletedBytes += f.bytes;
  }
  result.keptBytes = kept;
  // HH, then DD, MM, YYYY: each removed only once empty (rmdir refuses otherwise).
  for (const folder of emptied) {
    let d = folder;
    for (let i = 0; i < PARTITION_LEVELS.length && d !== dir; i++, d = dirname(d)) {
      const removed = await rmdir(d).then(
        () => true,
        () => false,
      );
      if (!removed) break;
    }
  }
  return result;
}
