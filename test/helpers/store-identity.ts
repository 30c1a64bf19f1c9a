// Stores for the tests of the store id (gateway/store/identity.ts) and the installation id bound
// to it: a store opened and closed to read its identity, and one as round 30 left it (no store id).
import { join } from 'node:path';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { StoreIdentity } from '../../gateway/store/types.js';
import { testDeps } from './index.js';

/** The store of `dataDir` (<dataDir>/store) opened and closed again: its identity at that open. */
export async function storeIdentity(dataDir: string): Promise<StoreIdentity> {
  const s = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  try {
    return s.identity!();
  } finally {
    await s.close();
  }
}

/** A store as round 30 left it in `dataDir`: a record in the stream `archive`, and no store id ('I'). */
export async function round30Store(dataDir: string): Promise<void> {
  const s = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  await s.defineStream({ name: 'archive', maxBytes: 1 << 20, onFull: 'reject' });
  await s.append('archive', { topic: 't', payload: Buffer.from('x'), receivedAt: 1 });
  await s.close();
  const db = new Level<Buffer, Buffer>(join(dataDir, 'store'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  await db.del(Buffer.from('I'));
  await db.close();
}
