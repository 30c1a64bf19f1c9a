// A store damaged at rest (an SD card's bad block, a power cut while LevelDB rewrote CURRENT or
// its MANIFEST, a table file gone): LevelDB refuses to open it ("Corruption: ...", or a file the
// MANIFEST names is missing), and before this module the start failed with GH_STORE_OPEN for good,
// systemd restarting it every few seconds while the devices kept their data. Here: told apart from
// the other open errors, repaired once with LevelDB's RepairDB (classic-level's repair), then opened
// again (database.ts openRepairing).
//
// What RepairDB does: it reads every table and log file in the directory (logs are turned into
// tables), keeps every entry it can read with its LevelDB sequence number (so a delete still hides
// the put it deleted, unless the delete itself was in what is lost) and writes a new MANIFEST and
// CURRENT; the files it could not use and the old MANIFEST and logs are moved to <store>/lost/
// (not deleted: the operator may look, then delete them). What it cannot read is lost.
//
// A missing CURRENT is not an error to LevelDB: with create_if_missing it makes a NEW database in
// the directory and then deletes every table file the new MANIFEST does not name, i.e. all of
// them: the whole backlog gone without a line (measured, round 33: 8,000 of 8,003 records, the 3 in
// the log kept). So that one is caught before LevelDB opens the directory (damageBeforeOpen): the
// handle is made without create_if_missing, and the refusal is taken for damage.
import { readdirSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { KEY_HWM } from './codec.js';
import type { BatchOp } from './head.js';
import { newStoreIdOp } from './identity.js';
import type { LogDrop, RepairReport } from './types.js';

export type { LogDrop, RepairReport };

const TABLE = /^\d+\.(ldb|sst)$/;
const LEVELDB_FILE = /^(\d+\.(ldb|sst|log)|MANIFEST-\d+)$/;

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

/**
 * Why the directory must not be opened as it is: its CURRENT is missing while its tables, logs or
 * MANIFEST are there (LevelDB would make a new database over them). undefined when it may be opened.
 * Synchronous: a handle opens itself on the next tick after it is made (abstract-level's deferred
 * open), so database.ts newDb asks this when it makes one, and opens it without create_if_missing.
 */
export function damageBeforeOpen(path: string): string | undefined {
  let files: string[];
  try {
    files = readdirSync(path);
  } catch {
    return undefined; // no directory yet: LevelDB makes it
  }
  if (files.includes('CURRENT')) return undefined;
  const found = files.filter((f) => LEVELDB_FILE.test(f)).sort();
  if (found.length === 0) return undefined; // a new store, or one never written
  return `its CURRENT file is missing while ${found.length} LevelDB file(s) are there (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', ...' : ''})`;
}

/**
 * True when LevelDB's open error (its own words, `detail`) says the database is damaged: a
 * "Corruption:" status (a bad CURRENT or MANIFEST, a missing table), or a file the MANIFEST or
 * CURRENT names that is not there. Not a full disk, a permission or a held LOCK (database.ts).
 */
export function isDamage(detail: string): boolean {
  if (/\bCorruption:/.test(detail)) return true;
  return /IO error: \S*(MANIFEST-\d+|\d+\.(ldb|sst|log)): No such file or directory/.test(detail);
}

/** Run LevelDB's RepairDB on the (closed) database at path, and say what it did. */
export async function repairDatabase(path: string, reason: string, mono: () => number): Promise<RepairReport> {
  const t0 = mono();
  const at = Date.now();
  await (Level as unknown as { repair(location: string): Promise<void> }).repair(path);
  const ms = Math.round(mono() - t0);
  const lostDir = join(path, 'lost');
  const lostFiles = (await names(lostDir)).sort();
  let lostBytes = 0;
  for (const f of lostFiles) lostBytes += (await stat(join(lostDir, f)).catch(() => ({ size: 0 }))).size;
  const tablesSetAside = lostFiles.filter((f) => TABLE.test(f)).length;
  return { at, reason, lostDir, lostFiles, lostBytes, tablesSetAside, ms };
}

// The open's "(ignoring error) <dir>/000003.log: dropping N bytes; ..." and RepairDB's "Log #3: dropping N bytes; ...".
const DROPPED = /((?:Log #\d+|\S+\.log): dropping (\d+) bytes; .*)$/;

/**
 * Bytes of a damaged write-ahead log (.log) LevelDB dropped while this open replayed it: with
 * paranoid checks off (classic-level's default) it skips a record whose checksum fails, and the
 * block after it, and tells nobody but its info log, <store>/LOG (begun anew by each open: the last
 * one's is LOG.old; after a repair, the repair's). Measured: 100 bytes overwritten in a 640 KB log lost 120 of 2,000 acknowledged
 * records without a line. A torn last record (a crash in a write) is not reported by LevelDB.
 */
export async function logDroppedAtOpen(path: string, repaired: boolean): Promise<LogDrop | undefined> {
  // After a repair, RepairDB's own lines (it turned the logs into tables) are in LOG.old.
  let text = await readFile(join(path, 'LOG'), 'utf8').catch(() => '');
  if (repaired) text = `${await readFile(join(path, 'LOG.old'), 'utf8').catch(() => '')}\n${text}`;
  const lines: string[] = [];
  let bytes = 0;
  for (const line of text.split('\n')) {
    const m = DROPPED.exec(line);
    if (!m) continue;
    lines.push(m[1] as string);
    bytes += Number(m[2]);
  }
  return lines.length > 0 ? { bytes, lines } : undefined;
}

/**
 * The writes after a repair, or after LevelDB dropped part of a damaged log (logDroppedAtOpen), in
 * one synced batch: every stream's tally deleted, so the open walks the segment keys that are
 * really there (a tally counts segments a lost table or log block may have held), and
 * a new store id, so the installation id upstream is made anew (identity.ts): sequences may run
 * again over numbers a lost table held, and JetStream would drop such records as duplicates.
 */
export async function afterDamageOps(db: Pick<Level<Buffer, Buffer>, 'keys'>): Promise<BatchOp[]> {
  const ops: BatchOp[] = [];
  for await (const k of db.keys({ gte: Buffer.from([KEY_HWM]), lt: Buffer.from([KEY_HWM + 1]) })) {
    if (k.length > 1 && k[k.length - 1] === 0) ops.push({ type: 'del', key: k });
  }
  ops.push(newStoreIdOp());
  return ops;
}
