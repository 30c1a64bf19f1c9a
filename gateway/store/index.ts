// The local stream store: factory and public exports.
import type { RuntimeDeps } from '../../core/deps.js';
import { LevelLocalStreams } from './local-streams.js';
import { storeOptionsSchema, type StoreOptionsInput } from './options.js';
import type { LocalStreams } from './types.js';

export type * from './types.js';
export { isDiskFullError, isStorageWriteError } from './disk-guard.js';
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
 * commits, stops the sweep timer and closes the database.
 */
export async function openLocalStreams(options: StoreOptionsInput, deps: RuntimeDeps): Promise<LocalStreams> {
  const store = new LevelLocalStreams(storeOptionsSchema.parse(options), deps);
  await store.open();
  return store;
}
