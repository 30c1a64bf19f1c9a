// The streams a store knows, by name: the in-memory state of each (found on disk or defined by
// the config), the checks of a definition, the lookup every operation on a stream starts with (a
// stream not defined is refused, naming the defined ones), their names, and what info() says of
// one. Functions over the store's map of states, which LevelLocalStreams (local-streams.ts) owns.
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { validStreamName } from './codec.js';
import { StreamState } from './state.js';
import type { StreamInfo, StreamOptions } from './types.js';

/** The state of `name` in `states`, created when missing. */
export function stateIn(states: Map<string, StreamState>, name: string): StreamState {
  let s = states.get(name);
  if (!s) {
    s = new StreamState(name);
    states.set(name, s);
  }
  return s;
}

/** The names of the streams defined (by the config), sorted. */
export function definedNames(streams: ReadonlyMap<string, StreamState>): string[] {
  const out: string[] = [];
  for (const s of streams.values()) if (s.options) out.push(s.name);
  return out.sort();
}

/** The state of a defined stream; GH_STREAM_UNKNOWN for a stream not defined (only found on disk, or unknown). */
export function definedStream(streams: ReadonlyMap<string, StreamState>, name: string): StreamState {
  const s = streams.get(name);
  if (s === undefined || s.options === undefined) {
    const defined = definedNames(streams);
    throw ERRORS.GH_STREAM_UNKNOWN(
      { stream: name },
      {
        where: name,
        hint: defined.length
          ? `use one of: ${defined.join(', ')}, or define '${name}' under streams in the config`
          : `define '${name}' under streams in the config (no stream is defined)`,
      },
    );
  }
  return s;
}

/** A stream definition's name and maxBytes, checked before it is taken (GH_CONFIG_INVALID). */
export function checkStreamOptions(options: StreamOptions): void {
  if (!validStreamName(options.name)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `invalid stream name '${options.name}'`, {
      where: `streams.${options.name}`,
      hint: 'use a non-empty name of at most 200 bytes without NUL characters',
    });
  }
  if (!(options.maxBytes > 0)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `stream '${options.name}': maxBytes must be positive`, { where: `streams.${options.name}.maxBytes` });
  }
}

export function streamInfo(s: StreamState): StreamInfo {
  return {
    name: s.name,
    options: { ...(s.options as StreamOptions) },
    firstSeq: s.firstSeq,
    lastSeq: s.lastSeq,
    records: s.records,
    bytes: s.bytes,
    oldestAt: s.records > 0 ? s.oldestAt : undefined,
    consumers: [...s.consumers].map(([name, checkpoint]) => ({ name, checkpoint })),
    droppedRecords: s.droppedRecords,
    rejectedAppends: s.rejectedAppends,
  };
}
