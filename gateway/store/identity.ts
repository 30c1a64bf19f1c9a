// The store's id: 16 random hex digits ('I', codec.ts) written in the same write as the format
// version when the database is made (database.ts openChecked), so a store made anew (its directory
// deleted as a "reset", re-created for any reason) always has an id no store had before, and a
// store keeps its id for as long as its sequences run on. Upstream, the installation id
// (gateway/upstream/installation-id.ts) is bound to it: records are named <stream>:<seq> under the
// installation id, and sequences restart at 1 in a new store, so a new store needs a new
// installation id (JetStream drops a message id it has seen as a duplicate; S3 keeps the last
// object put under a key). The store does not know about installation ids (gateway/store imports
// nothing of gateway/upstream): it only says what its id is and whether it had one before.
//
// A database from before store ids (round 30 and older) has the format version and no id: it is
// given one at its first open by this version, and said to be adopted, so the installation id made
// with it is kept (its sequences run on) rather than taken for a new store's.
import { randomBytes } from 'node:crypto';
import type { Level } from 'level';
import type { Logger } from 'pino';
import { KEY_STORE_ID } from './codec.js';
import type { BatchOp } from './head.js';
import type { StoreIdentity } from './types.js';

const ID_KEY = Buffer.from([KEY_STORE_ID]);
const VALID = /^[0-9a-f]{16}$/;

/** The put of a new store id (with the format version of a database just made). */
export function newStoreIdOp(id = randomBytes(8).toString('hex')): BatchOp {
  return { type: 'put', key: ID_KEY, value: Buffer.from(id, 'utf8') };
}

/**
 * The store's id, read from the database; one made before store ids gets one now (`adopted`).
 * `write` is the store's own (its disk guard sees a failure). A write that fails (a full disk at the
 * first start after an upgrade) is logged and the id used for this run only: the next start adopts
 * again with another id, which is safe (the installation id then changes, see installation-id.ts).
 */
export async function readStoreIdentity(
  db: Pick<Level<Buffer, Buffer>, 'get'>,
  write: (ops: BatchOp[], sync: boolean) => Promise<void>,
  log: Logger,
): Promise<StoreIdentity> {
  const found = (await db.get(ID_KEY))?.toString('utf8');
  if (found !== undefined && VALID.test(found)) return { id: found, adopted: false };
  const id = randomBytes(8).toString('hex');
  // An id that is not one (never written so) is no proof of anything: a new id, not adopted.
  const adopted = found === undefined;
  await write([newStoreIdOp(id)], true).catch((err: unknown) =>
    log.warn({ err: (err as Error).message }, 'the store id could not be written (kept for this run only; the next start makes another)'),
  );
  return { id, adopted };
}
