// The store's LevelDB handle: creating it, opening it with errors that say what to do (LevelDB's
// own words, a full disk named as such), a damaged database repaired once (repair.ts), the format
// check of a data directory, and compaction. Apart from local-streams.ts, which decides when to
// open, reopen and close.
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { Level } from 'level';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';
import { FORMAT_VERSION, KEY_FORMAT, readU64, u64 } from './codec.js';
import { newStoreIdOp } from './identity.js';
import { afterDamageOps, damageBeforeOpen, isDamage, repairDatabase, type RepairReport } from './repair.js';

export type Db = Level<Buffer, Buffer>;

/**
 * A handle on the database at path (it opens itself on the next tick; openChecked awaits that):
 * keys and values are Buffers. A directory whose CURRENT is missing while LevelDB's files are there
 * is opened without create_if_missing: LevelDB would make a new database there and delete every
 * table (repair.ts); refused, openChecked takes it for damage and the open repairs it.
 */
export function newDb(path: string): Db {
  const createIfMissing = damageBeforeOpen(path) === undefined;
  return new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing });
}

/**
 * Open db (the database at path) and check its format: a new database gets the current format
 * version and, in the same write, a store id (identity.ts); one written in another format is
 * closed again and refused.
 */
export async function openChecked(db: Db, path: string): Promise<void> {
  try {
    await db.open();
  } catch (err) {
    // A directory without CURRENT, refused by a handle made without create_if_missing (newDb).
    const missing = damageBeforeOpen(path);
    if (missing !== undefined) throw damagedError(path, missing, err);
    // abstract-level says only "Database failed to open"; LevelDB's own words are in the cause.
    const detail = levelDetail(err);
    if (isDamage(detail)) throw damagedError(path, detail, err);
    if (/No space left|ENOSPC/i.test(detail)) {
      // Reopening replays LevelDB's log into a new table: it needs room (a power cut on a full disk).
      throw ERRORS.GH_STORE_DISK_FULL(
        { what: 'open its database', reason: `the disk is full (${detail})` },
        {
          where: path,
          hint: `free space on the filesystem of ${path}: LevelDB replays its log into a new table when it opens (nothing stored is lost)`,
          cause: err,
        },
      );
    }
    if (/Permission denied|EACCES|Operation not permitted|EPERM/i.test(detail)) {
      // Not a held LOCK: the directory belongs to someone else (a first start under sudo, a copy
      // restored as root). A restart cannot fix it (exit 78, the unit is not restarted for ever).
      const who = userInfoSafe();
      throw ERRORS.GH_STORE_OPEN(
        { dir: path, reason: `it is not writable by the user the gateway runs as (${who.label}): ${detail}` },
        {
          hint: `give the directory to that user (e.g. sudo chown -R ${who.name ?? who.uid} ${dirname(path)}), or run the gateway as the directory's owner`,
          cause: err,
          details: { permission: true },
        },
      );
    }
    if (/lock .*LOCK: (Resource temporarily unavailable|already held by process)/i.test(detail)) {
      // The commonest case: a second `npm start` (or a gateway under systemd and one by hand) on one
      // data directory. Say so, not "check that the directory is writable".
      throw ERRORS.GH_STORE_OPEN(
        { dir: path, reason: `another process holds its LOCK: a gateway already runs on this data directory (${detail})` },
        {
          hint: `stop that gateway (fuser -v ${path}/LOCK names its process; systemctl status gatehouse if it is the service), or start this one with another --data-dir`,
          cause: err,
        },
      );
    }
    throw ERRORS.GH_STORE_OPEN(
      { dir: path, reason: detail },
      {
        hint: 'check that the directory is writable and that no other gatehouse process uses it (LevelDB holds a LOCK file)',
        cause: err,
      },
    );
  }
  const fmt = await db.get(Buffer.from([KEY_FORMAT]));
  // No format version: the database was made by this open (every version writes it at once).
  if (fmt === undefined) await db.batch([{ type: 'put', key: Buffer.from([KEY_FORMAT]), value: u64(FORMAT_VERSION) }, newStoreIdOp()], { sync: true });
  else if (readU64(fmt, 0) !== FORMAT_VERSION) {
    await db.close();
    throw ERRORS.GH_STORE_OPEN(
      { dir: path, reason: `its store format ${readU64(fmt, 0)} is not supported (this version reads ${FORMAT_VERSION})` },
      {
        hint: 'run the gatehouse version that wrote this data directory, or move the directory away',
        details: { storeFormat: readU64(fmt, 0), supported: FORMAT_VERSION },
      },
    );
  }
}

/** LevelDB's own words for an error of classic-level: its message and its cause's. */
function levelDetail(err: unknown): string {
  const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : undefined;
  return cause ? `${(err as Error).message}: ${cause}` : errorMessage(err);
}

/** A damaged database found at open (repair.ts): openRepairing repairs it; details.damaged is LevelDB's reason. */
function damagedError(path: string, reason: string, cause?: unknown): GatehouseError {
  return ERRORS.GH_STORE_OPEN(
    { dir: path, reason: `its database is damaged: ${reason}` },
    { hint: 'the start repairs it (LevelDB RepairDB) and opens it again', details: { damaged: reason }, ...(cause ? { cause } : {}) },
  );
}

function damagedReason(err: unknown): string | undefined {
  if (!(err instanceof GatehouseError && err.code === 'GH_STORE_OPEN')) return undefined;
  const d = err.details as { damaged?: unknown } | undefined;
  return typeof d?.damaged === 'string' ? d.damaged : undefined;
}

/** GH_STORE_DAMAGED: a repair that failed, or did not make the database open. A restart cannot help (exit 65). */
function unrepairable(path: string, reason: string, cause: unknown): GatehouseError {
  const aside = `${path}.damaged-$(date +%Y%m%d-%H%M%S)`;
  return ERRORS.GH_STORE_DAMAGED(
    { dir: path, reason },
    {
      hint:
        `move the store aside and start again with a new, empty store: mv ${path} ${aside} ` +
        '(under systemd: sudo systemctl stop gatehouse; sudo mv ...; sudo systemctl restart gatehouse). ' +
        'The folder moved aside keeps every file of the old store (its records are not sent: copy them out with LevelDB tools if they matter); the installation id is made anew',
      cause,
      details: { damaged: true },
    },
  );
}

/** What opening a damaged database does besides opening it: the report of the repair, the store's clock. */
export interface RepairHooks {
  mono: () => number;
  /** Told once the repaired database is open (before its streams are scanned). */
  repaired: (report: RepairReport) => void;
  /** A write after the repair (tallies, store id) failed: logged, the open goes on. */
  afterRepairFailed?: (err: unknown) => void;
}

/**
 * Open db (openChecked); a damaged database (a LevelDB "Corruption", a missing CURRENT, MANIFEST
 * or table: repair.ts) is repaired once with LevelDB's RepairDB and opened with a fresh handle.
 * A repair that fails for a full disk is GH_STORE_DISK_FULL (the start waits for space, then opens
 * and repairs again); one that fails otherwise, or leaves the database still refused, is
 * GH_STORE_DAMAGED. Resolves with the handle that opened.
 */
export async function openRepairing(db: Db, path: string, hooks: RepairHooks): Promise<Db> {
  try {
    await openChecked(db, path);
    return db;
  } catch (err) {
    const reason = damagedReason(err);
    if (reason === undefined) throw err;
    let report: RepairReport;
    try {
      report = await repairDatabase(path, reason, hooks.mono);
    } catch (repairErr) {
      const detail = levelDetail(repairErr);
      if (/No space left|ENOSPC/i.test(detail)) {
        throw ERRORS.GH_STORE_DISK_FULL(
          { what: 'repair its damaged database', reason: `the disk is full (${detail}); it was damaged: ${reason}` },
          { where: path, hint: `free space on the filesystem of ${path}: the repair rewrites the readable tables`, cause: repairErr },
        );
      }
      throw unrepairable(path, `${reason}; LevelDB's repair failed: ${detail}`, repairErr);
    }
    const fresh = newDb(path);
    try {
      await openChecked(fresh, path);
    } catch (again) {
      const still = damagedReason(again);
      if (still === undefined) throw again;
      throw unrepairable(path, `${reason}; after LevelDB's repair it is still refused: ${still}`, again);
    }
    try {
      await fresh.batch(await afterDamageOps(fresh), { sync: true });
    } catch (writeErr) {
      hooks.afterRepairFailed?.(writeErr);
    }
    hooks.repaired(report);
    return fresh;
  }
}

/**
 * Open db (openRepairing); when the disk lacks room for LevelDB's log replay (e.g. killed after a
 * compaction filled it), call `makeRoom` (the store's space ballast) once and, if it freed
 * anything, open a fresh handle. Resolves with the handle that opened.
 */
export async function openMakingRoom(db: Db, path: string, makeRoom: () => Promise<number>, repair: RepairHooks): Promise<Db> {
  try {
    return await openRepairing(db, path, repair);
  } catch (err) {
    if (!(err instanceof GatehouseError && err.code === 'GH_STORE_DISK_FULL') || (await makeRoom()) === 0) throw err;
    return openRepairing(newDb(path), path, repair);
  }
}

/** Who the process runs as, for a permission error (userInfo throws for a uid without a passwd entry). */
function userInfoSafe(): { uid: number | undefined; name: string | undefined; label: string } {
  const uid = process.getuid?.();
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = undefined;
  }
  return { uid, name, label: name ? `${name}, uid ${uid}` : `uid ${uid}` };
}

/** classic-level's (Node) maintenance calls; level's browser typing does not declare them. */
type Maintenance = Partial<{ compactRange(start: Buffer, end: Buffer): Promise<void>; approximateSize(start: Buffer, end: Buffer): Promise<number> }>;

/** Compact the keys in [start, end) (a no-op where the backend has no compactRange). */
export async function compactRange(db: Db, start: Buffer, end: Buffer): Promise<void> {
  const d = db as unknown as Maintenance;
  if (typeof d.compactRange === 'function') await d.compactRange(start, end);
}

/** LevelDB's estimate of the table bytes of the keys in [start, end) (memtable excluded; 0 where the backend has none). */
export async function approximateSize(db: Db, start: Buffer, end: Buffer): Promise<number> {
  const d = db as unknown as Maintenance;
  return typeof d.approximateSize === 'function' ? d.approximateSize(start, end) : 0;
}

/** Compact the whole key range (a no-op where the backend has no compactRange). */
export async function compactAll(db: Db): Promise<void> {
  await compactRange(db, Buffer.from([0]), Buffer.from([0xff]));
}
