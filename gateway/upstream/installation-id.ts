// The installation id: 16 random hex digits made once per data dir and kept there
// (<dataDir>/installation-id), which tells this gateway's records apart from every other's where a
// fleet meets upstream. A record id `<stream>:<seq>` is unique within one gateway only: every
// gateway has the default local stream `archive`, and a rule set pushed to the fleet makes the same
// action stream on each, all counting from 1. Two destinations need more:
// - NATS JetStream drops a publish whose message id it stored within its duplicate window, whoever
//   published it: with `<stream>:<seq>` as the Nats-Msg-Id, a second gateway's records were
//   acknowledged as duplicates and never stored (nats.ts uses `<installation>:<stream>:<seq>`);
// - S3 replaces an object put under an existing key: with the default key template, gateways
//   writing to one bucket and prefix overwrote each other's objects of the same hour (s3.ts puts
//   `${installationId}` in the default key).
// Kept in the data dir, so a record resent after a restart keeps its id (still a duplicate to
// JetStream, the same S3 object). The gateway id is not enough, as fleets share it (every
// Raspberry Pi is `raspberrypi` by default); a data dir copied to another gateway copies it too.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The file in the data dir that holds the installation id. */
export const INSTALLATION_ID_FILE = 'installation-id';

const VALID = /^[0-9a-f]{16}$/;

/** The id of a destination built without a data dir (outside a gateway): one per process. */
const PROCESS_ID = randomBytes(8).toString('hex');

/**
 * The installation id of `dataDir` (16 hex digits), read from its file or created there; without
 * a data dir, one for this process. Rejects when it cannot be read or kept (a full disk before
 * the file exists): the caller tries again later.
 */
export async function installationId(dataDir: string | undefined): Promise<string> {
  if (dataDir === undefined) return PROCESS_ID;
  const file = join(dataDir, INSTALLATION_ID_FILE);
  const found = await readValid(file);
  if (found) return found;
  // Absent, or cut short by a crash while it was written: a new one, written whole (a temp file,
  // fsynced), then linked in place: two destinations making it at once (an exporter and a rule
  // action's) end with the one linked first, which both use.
  const id = randomBytes(8).toString('hex');
  await mkdir(dataDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${id}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Made meanwhile: that one. A file cut short is replaced by this one.
      const other = await readValid(file);
      if (other) return other;
    }
    // (Or a file system without hard links, vfat: renamed, the last one made wins; a destination
    // that made another at the same moment sends its first records again under this one's ids.)
    await rename(tmp, file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const dir = await open(dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return id;
}

async function readValid(file: string): Promise<string | undefined> {
  const s = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return VALID.test(s.trim()) ? s.trim() : undefined;
}

/**
 * The installation id of `dataDir`, read or made at the first call and kept; a call after a
 * failure (a full disk before the file exists) tries again. For destinations, at their first send.
 */
export function lazyInstallationId(dataDir: string | undefined): () => Promise<string> {
  let ready: Promise<string> | undefined;
  return () =>
    (ready ??= installationId(dataDir).catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
}
