// The store's LevelDB handle: creating it, opening it with errors that say what to do (LevelDB's
// own words, a full disk named as such), the format check of a data directory, and compaction.
// Apart from local-streams.ts, which decides when to open, reopen and close.
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { Level } from 'level';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { FORMAT_VERSION, KEY_FORMAT, readU64, u64 } from './codec.js';
import { newStoreIdOp } from './identity.js';

export type Db = Level<Buffer, Buffer>;

/** A handle on the database at path (not open yet): keys and values are Buffers. */
export function newDb(path: string): Db {
  return new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
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
    // abstract-level says only "Database failed to open"; LevelDB's own words are in the cause.
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : undefined;
    const detail = cause ? `${(err as Error).message}: ${cause}` : (err as Error).message;
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

/**
 * Open db (openChecked); when the disk lacks room for LevelDB's log replay (e.g. killed after a
 * compaction filled it), call `makeRoom` (the store's space ballast) once and, if it freed
 * anything, open a fresh handle. Resolves with the handle that opened.
 */
export async function openMakingRoom(db: Db, path: string, makeRoom: () => Promise<number>): Promise<Db> {
  try {
    await openChecked(db, path);
    return db;
  } catch (err) {
    if (!(err instanceof GatehouseError && err.code === 'GH_STORE_DISK_FULL') || (await makeRoom()) === 0) throw err;
    const fresh = newDb(path);
    await openChecked(fresh, path);
    return fresh;
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
