// Streams that hold records no exporter drains, said at start: once the rule set is loaded and
// the rule exporters are resumed (rule-exporters.ts), a stream in the store with records not
// delivered and no exporter is a backlog nothing will send. check-config warns about a configured
// stream that rules write and no exporter exports; a stream only in the store (an upstream rule
// action's stream that an earlier version kept no options for, a stream removed from the config)
// is not in the config, so only the store can tell. One warning per stream; `localOnly` streams
// (read locally) and dead-letter streams (`*-dlq`, read by operators) are meant to stay.
import type { Logger } from 'pino';
import type { LocalStreams, StreamInfo } from '../store/types.js';
import { RULE_ACTION_STREAM } from './actions/upstream.js';
import { isInternalStream } from './rule-input-log.js';

export interface StrandedStream {
  stream: string;
  /** Records held past every consumer's checkpoint (all held records when it has none). */
  records: number;
  bytes: number;
  /** Seconds since the oldest held record's receivedAt (0 when unknown). */
  oldestAgeSeconds: number;
}

/** Records held that no consumer has delivered: past the furthest checkpoint, at most what is held. */
function undelivered(info: StreamInfo): number {
  const furthest = info.consumers.reduce((max, c) => Math.max(max, c.checkpoint), 0);
  return Math.max(0, Math.min(info.records, info.lastSeq - furthest));
}

/**
 * Records of this stream that nothing will send: not delivered, and no exporter drains it (its
 * name not in `drained`); 0 for a `localOnly`, dead-letter or internal ($rule-inputs) stream.
 */
export function undrainedRecords(info: StreamInfo, drained: ReadonlySet<string>, localOnly: ReadonlySet<string>): number {
  const name = info.name;
  if (drained.has(name) || localOnly.has(name) || name.endsWith('-dlq') || isInternalStream(name)) return 0;
  return undelivered(info);
}

/** The configured streams marked localOnly (read on the gateway only). */
export function localOnlyStreams(streams: Readonly<Record<string, { localOnly?: boolean }>>): Set<string> {
  return new Set(Object.entries(streams).flatMap(([name, s]) => (s.localOnly ? [name] : [])));
}

/** Every stream the store holds: the defined ones, then those found on disk only (no config or rule names them). */
export function streamsOnDisk(streams: Pick<LocalStreams, 'streamNames' | 'info' | 'undefinedStreams'>): StreamInfo[] {
  return [...streams.streamNames().map((n) => streams.info(n)), ...(streams.undefinedStreams?.() ?? [])];
}

/** Options for a stream found on disk only, defined so that its records can be read: nothing appends to it. */
const READ_ONLY_MAX_BYTES = 256 * 1024 * 1024;

/**
 * The streams holding records not delivered that no exporter drains (`drained`: the streams of
 * every exporter), other than `localOnly` and dead-letter streams; each logged as one warning.
 * One found on disk only (no config or rule names it) is defined, so that the admin API's records
 * endpoint and `gatehouse streams` show it (onFull: reject: nothing is dropped).
 */
export async function reportStrandedStreams(
  streams: Pick<LocalStreams, 'streamNames' | 'info' | 'undefinedStreams' | 'defineStream' | 'hasStream'>,
  drained: ReadonlySet<string>,
  localOnly: ReadonlySet<string>,
  log: Logger,
  now: number = Date.now(),
): Promise<StrandedStream[]> {
  const out: StrandedStream[] = [];
  for (const info of streamsOnDisk(streams)) {
    const name = info.name;
    const records = undrainedRecords(info, drained, localOnly);
    if (records === 0) continue;
    if (!streams.hasStream(name)) await streams.defineStream({ name, maxBytes: Math.max(READ_ONLY_MAX_BYTES, info.bytes), onFull: 'reject' });
    const bytes = info.records > 0 ? Math.round((info.bytes * records) / info.records) : 0;
    const oldestAgeSeconds = info.oldestAt === undefined ? 0 : Math.max(0, Math.round((now - info.oldestAt) / 1000));
    out.push({ stream: name, records, bytes, oldestAgeSeconds });
    const ruleAction = RULE_ACTION_STREAM.test(name);
    log.warn(
      { stream: name, records, bytes, oldestAgeSeconds },
      ruleAction
        ? `stream '${name}' of an upstream rule action holds ${records} records no exporter sends, and its destination is unknown (no kept options, no stored rule set names it): read them with GET /api/streams/${name}/records or \`gatehouse streams\` (docs/upstream.md, "Streams no exporter drains")`
        : `stream '${name}' holds ${records} records no exporter sends: add an exporter for it, mark it localOnly if it is only read locally, or read them with GET /api/streams/${name}/records (docs/upstream.md, "Streams no exporter drains")`,
    );
  }
  return out;
}
