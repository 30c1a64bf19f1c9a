// The errors the store's entry points (LevelLocalStreams) answer with when they turn a call down
// before it reaches the database: the store not open yet or closed, an append over its stream's
// maxBytes, and an append waiting for space when the gateway stops. None of them was acknowledged,
// so each says what happens to the data (the device resends it, or the caller retries).
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { StreamState } from './state.js';
import type { StreamOptions } from './types.js';

/** GH_STORE_CLOSED of a store closing or closed, naming its path. */
export function storeClosed(path: string): GatehouseError {
  return ERRORS.GH_STORE_CLOSED(
    { state: 'closed' },
    {
      where: path,
      hint: 'the gateway is shutting down; retry after restart',
    },
  );
}

/** GH_STORE_CLOSED of a store not opened yet. */
export function storeNotOpen(): GatehouseError {
  return ERRORS.GH_STORE_CLOSED({ state: 'not open yet' }, { hint: 'await open() first' });
}

/** GH_STREAM_FULL of an append that waited for space in `s` while the gateway stops. */
export function refusedAtStop(s: StreamState): GatehouseError {
  return ERRORS.GH_STREAM_FULL(
    {
      stream: s.name,
      held: s.bytes,
      maxBytes: (s.options as StreamOptions).maxBytes,
      pending: s.reserved,
      reason: 'the gateway is stopping, so an append waiting for space is refused',
    },
    { where: s.name, hint: 'the device resends it after the restart (it was not acknowledged)' },
  );
}

/** GH_RECORD_TOO_LARGE of a record of `bytes` over the maxBytes of its stream: it could never fit. */
export function overMaxBytes(stream: string, topic: string, bytes: number, maxBytes: number): GatehouseError {
  return ERRORS.GH_RECORD_TOO_LARGE(
    { what: `a record of ${bytes} bytes`, limit: `the maxBytes ${maxBytes} of stream '${stream}'` },
    {
      where: `${stream} ${topic}`,
      hint: `raise streams.${stream}.maxBytes or limit the payload size`,
    },
  );
}
