// The local stream store: factory and public exports.
import type { RuntimeDeps } from '../../core/deps.js';
import { LevelLocalStreams } from './local-streams.js';
import { storeOptionsSchema, type StoreOptionsInput } from './options.js';
import type { LocalStreams } from './types.js';
import type { WaitForSpace } from './open-wait.js';

export type * from './types.js';
export { isDiskFullError, isStorageWriteError } from './disk-guard.js';
export type { OpenWait, WaitForSpace } from './open-wait.js';
export type { CommitHealth, CommitWindow } from './slow-disk.js';
export {
  parseDuration,
  storeOptionsSchema,
  streamDefaultsSchema,
  toStreamOptions,
  type StoreOptions,
  type StoreOptionsInput,
  type StreamDefaults,
  type StreamDefaultsInput,
} from './options.js';

/**
 * Open the store (creating the database directory if needed) and rebuild stream state from disk.
 * Options are validated with storeOptionsSchema (defaults filled in). close() flushes pending
 * commits, stops the sweep timer and closes the database. waitForSpace: a disk too full to open the
 * database on (LevelDB replays its log when it opens) is waited out instead of failing (open-wait.ts).
 */
export async function openLocalStreams(options: StoreOptionsInput, deps: RuntimeDeps, waitForSpace?: WaitForSpace): Promise<LocalStreams> {
  const store = new LevelLocalStreams(storeOptionsSchema.parse(options), deps);
  await store.open(waitForSpace);
  return store;
}
