// The installation id: 16 random hex digits kept in the data dir (<dataDir>/installation-id),
// which tells this gateway's records apart from every other's where a fleet meets upstream. A
// record id `<stream>:<seq>` is unique within one store only: every gateway has the default local
// stream `archive`, and a rule set pushed to the fleet makes the same action stream on each, all
// counting from 1. Two destinations need more:
// - NATS JetStream drops a publish whose message id it stored within its duplicate window, whoever
//   published it: with `<stream>:<seq>` as the Nats-Msg-Id, a second gateway's records were
//   acknowledged as duplicates and never stored (nats.ts uses `<installation>:<stream>:<seq>`);
// - S3 replaces an object put under an existing key: with the default key template, gateways
//   writing to one bucket and prefix overwrote each other's objects of the same hour (s3.ts puts
//   `${installationId}` in the default key).
// Kept in the data dir, so a record resent after a restart keeps its id (still a duplicate to
// JetStream, the same S3 object). The gateway id is not enough, as fleets share it (every
// Raspberry Pi is `raspberrypi` by default).
//
// So one id must never name two sequence spaces. In a gateway it is bound to (round 31):
// - the store (gateway/store/identity.ts): the file records the id of the store it was made with;
//   a store made anew (<dataDir>/store deleted as a "reset", or replaced) restarts its sequences at
//   1, and gets a new installation id, else JetStream dropped its records as the old ones'
//   duplicates and S3 replaced the old objects of the same hour;
// - the machine (machine.ts): a data dir copied to another machine (a cloned SD card image, a
//   backup restored on a second box) gets a new id there, else both sent the same ids;
// - the store's folder (round 32, storeFolderIdentity): a backup restored on the same machine
//   (the folder moved aside, the copy put back) keeps the store id and the machine, but its
//   sequences go back to the backup's, and the old id named new records with the numbers of
//   records already sent (JetStream dropped them as duplicates, S3 replaced objects). A folder
//   made by a restore or a copy is not the one the id was made with: the file system gives it
//   another birth time (no tool can set one) or, where none is kept, another inode;
// - the store's LOCK file (round 33, storeLockIdentity): a backup extracted over the live folder's
//   own files keeps the folder, but not its files. LevelDB makes LOCK at the store's first open
//   and never deletes or rewrites it, so its birth time (or inode) stays the same for the store's
//   life; tar, cp and rsync put back a file of their own making (a new birth time), whatever
//   times they restore. A copy written into the live files in place (cp without --remove-destination
//   over a LOCK that is still there) keeps it and is not seen: docs/upgrading.md says to delete the id.
// A new id is always safe: the records already sent under the old one may arrive again under the
// new one (at least once), never lost; keeping it across a new sequence space loses records without
// a word. So when in doubt, a new id, with one warning saying why.
//
// Upgrades: a round 30 file holds the id alone, and its store no store id: the store adopts one
// (identity.ts `adopted`) and the id is kept, bound to it and to this machine from then on. A
// round 30 id file beside a store that already has an id (made after it) is replaced.
//
// The file: `{"id":...,"store":...,"machine":{...}}`, or the id alone (round 30's, and one made
// outside a gateway); a round 30 gateway reading the first makes itself a new id: safe.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { StoreIdentity } from '../store/types.js';
import { machineChanges, mergeMachine, parseMachine, sameFingerprint, type MachineFingerprint, type ReadMachineFingerprint } from './machine.js';

/** The file in the data dir that holds the installation id. */
export const INSTALLATION_ID_FILE = 'installation-id';

const VALID = /^[0-9a-f]{16}$/;

/** The id of a destination built without a data dir (outside a gateway): one per process. */
const PROCESS_ID = randomBytes(8).toString('hex');

/** What a gateway's installation id is bound to. */
export interface InstallationBinding {
  /** The store under the data dir (LocalStreams.identity). */
  store: StoreIdentity;
  /** This machine's fingerprint (machine.ts readMachineFingerprint; a test gives its own). */
  machine: ReadMachineFingerprint;
  /** Where the warning goes when a new id replaces the one in the file. */
  log: Logger;
  /** The store folder's identity (storeFolderIdentity); absent: not checked (a test's store, a stat that failed). */
  folder?: string;
  /** The identity of the store's LOCK file (storeLockIdentity); absent: not checked. */
  lockFile?: string;
}

/**
 * The identity of a folder as its file system knows it: its birth time where the file system keeps
 * one (ext4, btrfs, xfs, tmpfs, vfat with statx: stable across reboots, new for a folder made by a
 * restore or a copy, and settable by no tool), else its inode (stable across reboots on the file
 * systems without birth times that a data dir lives on). Undefined when it cannot be read.
 */
export async function storeFolderIdentity(path: string): Promise<string | undefined> {
  const st = await stat(path, { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  return st.birthtimeNs > 0n ? `born:${st.birthtimeNs}` : `inode:${st.ino}`;
}

/**
 * The identity of the store's LOCK file (as storeFolderIdentity's): LevelDB creates it at the
 * store's first open and never deletes or rewrites it, so it changes only when the store's files
 * are put back from a copy (a backup extracted over the live folder). Read after the store opened.
 */
export function storeLockIdentity(storePath: string): Promise<string | undefined> {
  return storeFolderIdentity(join(storePath, 'LOCK'));
}

/** The file's content. `store` and `machine` absent: a round 30 file, or one made outside a gateway. */
interface IdRecord {
  id: string;
  store?: string;
  machine?: MachineFingerprint;
  /** The store folder's identity when the id was made or first bound to it (round 32). */
  folder?: string;
  /** The store's LOCK file's identity when the id was made or first bound to it (round 33). */
  lockFile?: string;
}

/** Resolutions running, by file: concurrent calls in one process share one (and so one id). */
const running = new Map<string, Promise<string>>();

/**
 * The installation id of `dataDir` (16 hex digits), read from its file or made there; without a
 * data dir, one for this process. With a binding (a gateway's), the id is made anew when the file's
 * was made with another store or on another machine (one warning, saying why). Rejects when it
 * cannot be read or kept (a full disk before the file exists): the caller tries again later.
 */
export function installationId(dataDir: string | undefined, binding?: InstallationBinding): Promise<string> {
  if (dataDir === undefined) return Promise.resolve(PROCESS_ID);
  const file = join(dataDir, INSTALLATION_ID_FILE);
  let p = running.get(file);
  if (!p) {
    p = resolveId(dataDir, file, binding).finally(() => running.delete(file));
    running.set(file, p);
  }
  return p;
}

async function resolveId(dataDir: string, file: string, binding: InstallationBinding | undefined): Promise<string> {
  const found = await readRecord(file);
  if (!binding) return found?.id ?? (await make(dataDir, file, {}));
  const machine = await binding.machine();
  const bound: Omit<IdRecord, 'id'> = {
    store: binding.store.id,
    machine,
    ...(binding.folder === undefined ? {} : { folder: binding.folder }),
    ...(binding.lockFile === undefined ? {} : { lockFile: binding.lockFile }),
  };
  if (!found) {
    // A file there that is not a record: damaged at rest (an SD card; it is only ever replaced
    // whole). Made anew, which is safe (a duplicate upstream at worst), but said: it was silent.
    const damaged = await stat(file).then(
      (st) => st.size,
      () => undefined,
    );
    const id = await make(dataDir, file, bound);
    if (damaged !== undefined)
      binding.log.warn(
        { installationId: id, reason: 'damaged', file, bytes: damaged },
        `the installation id file ${file} was damaged (${damaged} bytes that are not an id): a new id ${id} is made; records already delivered under the old id may arrive upstream again under the new one (at least once: a duplicate, never a loss)`,
      );
    return id;
  }
  const why = replacedBecause(found, binding.store, machine, binding.folder, binding.lockFile);
  if (why) {
    const id = randomBytes(8).toString('hex');
    await replace(dataDir, file, { id, ...bound });
    binding.log.warn(
      { installationId: id, previous: found.id, reason: why.reason, file },
      `installation id ${found.id} replaced by ${id}: ${why.text}; records already delivered under the old id may arrive upstream again under the new one (at least once: a duplicate, never a loss)`,
    );
    return id;
  }
  // Kept: bound to this store (an upgrade's first start) and to what this machine says now.
  // (A file from before round 32 has no folder, one from before round 33 no LOCK file: the ones it
  // is beside now are recorded, as an upgrade's store id is.)
  const next: IdRecord = {
    id: found.id,
    ...bound,
    ...(found.machine ? { machine: mergeMachine(found.machine, machine) } : {}),
    ...(bound.folder === undefined && found.folder !== undefined ? { folder: found.folder } : {}),
    ...(bound.lockFile === undefined && found.lockFile !== undefined ? { lockFile: found.lockFile } : {}),
  };
  if (
    found.store !== next.store ||
    found.folder !== next.folder ||
    found.lockFile !== next.lockFile ||
    !found.machine ||
    !sameFingerprint(found.machine, next.machine as MachineFingerprint)
  )
    await replace(dataDir, file, next);
  return found.id;
}

function replacedBecause(
  found: IdRecord,
  store: StoreIdentity,
  machine: MachineFingerprint,
  folder: string | undefined,
  lockFile: string | undefined,
): { reason: 'store' | 'machine' | 'folder' | 'restored'; text: string } | undefined {
  const storeText =
    'the store under the data dir is not the one it was made with (made anew: <dataDir>/store deleted or replaced), so its sequences restarted at 1 and the old id would name new records with the sequences of old ones (NATS JetStream drops them as duplicates, S3 replaces the old objects)';
  // A round 30 file: kept with the store it was made with (adopted at this start), not with a newer one.
  if (found.store === undefined) return store.adopted ? undefined : { reason: 'store', text: storeText };
  if (found.store !== store.id) return { reason: 'store', text: storeText };
  const changes = found.machine ? machineChanges(found.machine, machine) : [];
  if (changes.length > 0)
    return {
      reason: 'machine',
      text: `the data dir was made on another machine (its ${changes.join(', ')} differ: a copied disk image or a restored backup), where the same id names records of the same sequences`,
    };
  if (found.folder !== undefined && folder !== undefined && found.folder !== folder)
    return {
      reason: 'folder',
      text: "the store folder is not the one it was made with (a backup restored, or the data dir copied, or moved to another file system), so its sequences may have gone back to the copy's and the old id would name new records with the numbers of records already sent (NATS JetStream drops them as duplicates, S3 replaces the objects)",
    };
  if (found.lockFile !== undefined && lockFile !== undefined && found.lockFile !== lockFile)
    return {
      reason: 'restored',
      text: "the store's files are not the ones it was made with (its LOCK file was made again: a backup extracted over the live folder, or the LOCK file deleted), so its sequences may have gone back to the copy's and the old id would name new records with the numbers of records already sent (NATS JetStream drops them as duplicates, S3 replaces the objects)",
    };
  return undefined;
}

/** The installation id kept in `dataDir`, or undefined when there is none (for tests and tools). */
export async function readInstallationId(dataDir: string): Promise<string | undefined> {
  return (await readRecord(join(dataDir, INSTALLATION_ID_FILE)))?.id;
}

/** The file's record; undefined when absent or not one (cut short by a crash while it was written). */
async function readRecord(file: string): Promise<IdRecord | undefined> {
  const s = (
    await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    })
  ).trim();
  if (VALID.test(s)) return { id: s };
  let o: unknown;
  try {
    o = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const { id, store, machine, folder, lockFile } = o as Record<string, unknown>;
  if (typeof id !== 'string' || !VALID.test(id)) return undefined;
  if (store !== undefined && (typeof store !== 'string' || !VALID.test(store))) return undefined;
  const fp = machine === undefined ? undefined : parseMachine(machine);
  if (machine !== undefined && fp === undefined) return undefined;
  if (folder !== undefined && typeof folder !== 'string') return undefined;
  if (lockFile !== undefined && typeof lockFile !== 'string') return undefined;
  return {
    id,
    ...(store === undefined ? {} : { store }),
    ...(fp ? { machine: fp } : {}),
    ...(folder === undefined ? {} : { folder }),
    ...(lockFile === undefined ? {} : { lockFile }),
  };
}

/** A temp file beside `file` holding `record`, fsynced. */
async function written(file: string, record: IdRecord): Promise<string> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    // Bound to nothing (outside a gateway): the id alone, as round 30 wrote it.
    await fh.writeFile(`${record.store === undefined && record.machine === undefined ? record.id : JSON.stringify(record)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Absent, or cut short by a crash while it was written: a new id, written whole (a temp file,
 * fsynced), then linked in place: two processes making it at once end with the one linked first,
 * which both use.
 */
async function make(dataDir: string, file: string, bound: Omit<IdRecord, 'id'>): Promise<string> {
  const id = randomBytes(8).toString('hex');
  await mkdir(dataDir, { recursive: true });
  const tmp = await written(file, { id, ...bound });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Made meanwhile: that one. A file cut short is replaced by this one.
      const other = await readRecord(file);
      if (other) return other.id;
    }
    // (Or a file system without hard links, vfat: renamed, the last one made wins; a destination
    // that made another at the same moment sends its first records again under this one's ids.)
    await rename(tmp, file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dataDir);
  return id;
}

/** The file replaced whole by `record` (a temp file renamed over it: a crash leaves one or the other). */
async function replace(dataDir: string, file: string, record: IdRecord): Promise<void> {
  const tmp = await written(file, record);
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dataDir);
}

/** A lazily resolved installation id, and the one it resolved to (undefined before). */
export type LazyInstallationId = (() => Promise<string>) & { known(): string | undefined };

/**
 * The installation id of `dataDir`, read or made at the first call and kept; a call after a
 * failure (a full disk before the file exists) tries again. For destinations, at their first send;
 * a gateway makes one with its binding at its start and hands it to its destinations.
 */
export function lazyInstallationId(dataDir: string | undefined, binding?: InstallationBinding): LazyInstallationId {
  let ready: Promise<string> | undefined;
  let known: string | undefined;
  const get = (): Promise<string> =>
    (ready ??= installationId(dataDir, binding).then(
      (id) => (known = id),
      (err: unknown) => {
        ready = undefined;
        throw err;
      },
    ));
  return Object.assign(get, { known: () => known });
}
