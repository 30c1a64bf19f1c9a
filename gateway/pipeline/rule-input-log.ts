// The input log of the stateful rules (rules/windows/input-log.ts) over an internal local stream:
// the inputs of windows and detectors are appended in the group commit that gates their
// acknowledgement, replayed behind the rules' checkpoints at start, and reclaimed behind them by
// one consumer. Its name starts with '$', which config stream names cannot, and /api/streams marks
// it internal. `onFull: reject`: a full log holds acknowledgements back, it never drops an input.
import type { InputLog } from '../../rules/index.js';
import type { LocalStreams } from '../store/types.js';

export const RULE_INPUT_STREAM = '$rule-inputs';
const CONSUMER = 'rule-state';

/** Streams whose name starts with '$' are the gateway's own (not configurable, not exported). */
export function isInternalStream(name: string): boolean {
  return name.startsWith('$');
}

export async function openRuleInputLog(streams: LocalStreams, maxBytes: number): Promise<InputLog> {
  await streams.defineStream({ name: RULE_INPUT_STREAM, maxBytes, onFull: 'reject' });
  await streams.addConsumer(RULE_INPUT_STREAM, CONSUMER);
  return {
    append: (topic, payload, receivedAt) => streams.append(RULE_INPUT_STREAM, { topic, payload, receivedAt }),
    read: (fromSeq, limit) => streams.read(RULE_INPUT_STREAM, fromSeq, { limit }),
    released: () => streams.getCheckpoint(RULE_INPUT_STREAM, CONSUMER),
    release: (seq) => streams.setCheckpoint(RULE_INPUT_STREAM, CONSUMER, seq),
    commitMeta: (key, value) => streams.commitMeta(key, value),
    getMeta: (key) => streams.getMeta(key),
    maxBytes,
  };
}
