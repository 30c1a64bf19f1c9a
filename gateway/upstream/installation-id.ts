// The Nats-Msg-Id of a record: `<installation>:<stream>:<seq>`. JetStream drops a publish whose
// message id it stored within the stream's duplicate window, whoever published it: with the
// record id alone (`<stream>:<seq>`), two gateways publishing into one JetStream stream (a fleet
// to its hub, every gateway with the default local stream `archive`, or a rule set pushed to the
// fleet whose `nats` action makes the same `nats-<hash>` stream on each, counting from 1 at the
// same time) sent the same ids: the second gateway's records were acknowledged as duplicates and
// never stored, lost without a word. The installation id is random, made once per data dir and
// kept there (<dataDir>/nats-msg-id), so a record resent after a restart keeps its message id and
// is still dropped as the duplicate it is; the gateway id is not used, as fleets share it (every
// Raspberry Pi is `raspberrypi` by default).
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The file in the data dir that holds the installation id. */
export const MSG_ID_FILE = 'nats-msg-id';

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
  const file = join(dataDir, MSG_ID_FILE);
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

/** A record's message id: the installation id, the local stream and the sequence. */
export function natsMsgId(installation: string, stream: string, seq: number): string {
  return `${installation}:${stream}:${seq}`;
}
