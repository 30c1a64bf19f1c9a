// Streams that hold records no exporter drains, said at start: once the rule set is loaded and
// the rule exporters are resumed (rule-exporters.ts), a stream in the store with records not
// delivered and no exporter is a backlog nothing will send. check-config warns about a configured
// stream that rules write and no exporter exports; a stream only in the store (an upstream rule
// action's stream that an earlier version kept no options for, a stream removed from the config)
// is not in the config, so only the store can tell. One warning per stream; `localOnly` streams
// (read locally) and dead-letter streams (`*-dlq`, read by operators) are meant to stay.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import type { LocalStreams, StreamInfo } from '../store/types.js';
import { RULE_ACTION_STREAM } from './actions/upstream.js';
import { isInternalStream } from './rule-input-log.js';
import { RULE_EXPORTER_PREFIX, warnDeadLetters } from './rule-exporters.js';

/** The default dead-letter stream of an upstream rule action's stream (`<kind>-<hash>-dlq`). */
export const RULE_ACTION_DLQ = new RegExp(`${RULE_ACTION_STREAM.source.slice(0, -1)}-dlq$`);

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

/**
 * At start, once the exporters are back: each stream of an upstream rule action (`<kind>-<hash>`)
 * that no exporter uses and the config does not name, holding no records, is dropped with its
 * checkpoint, kept options and empty dead-letter stream in one write (store.dropStreams); an empty
 * `<kind>-<hash>-dlq` whose stream is gone too. What a retirement left when the gateway stopped
 * (or was killed) before its drop, or a version that dropped nothing left: three keys and a
 * stream state per rule update, for ever. Resolves with the names dropped.
 */
export async function dropEmptyActionStreams(
  streams: LocalStreams,
  inUse: ReadonlySet<string>,
  configured: ReadonlySet<string>,
  log: Logger,
): Promise<string[]> {
  if (!streams.dropStreams) return [];
  const all = new Map(streamsOnDisk(streams).map((i) => [i.name, i]));
  const free = (name: string): boolean => !inUse.has(name) && !configured.has(name);
  const empty = (name: string): boolean => (all.get(name)?.records ?? 0) === 0;
  const dropped: string[] = [];
  for (const [name, info] of all) {
    const dlqOnly = RULE_ACTION_DLQ.test(name) && !all.has(name.slice(0, -'-dlq'.length));
    if (!(RULE_ACTION_STREAM.test(name) || dlqOnly) || !free(name) || info.records > 0) continue;
    const dlq = `${name}-dlq`;
    const names = [name, ...(!dlqOnly && all.has(dlq) && free(dlq) && empty(dlq) ? [dlq] : [])];
    try {
      dropped.push(...(await streams.dropStreams(names, { consumer: name, metaKeys: dlqOnly ? [] : [RULE_EXPORTER_PREFIX + name] })));
    } catch (err) {
      log.debug({ err: errorMessage(err), stream: name }, 'an empty stream of an upstream rule action no rule uses was not dropped');
    }
  }
  if (dropped.length > 0) log.info({ streams: dropped.length }, 'dropped the empty streams of upstream rule actions no rule uses any more');
  return dropped;
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
    if (name.endsWith('-dlq') && !streams.hasStream(name) && info.records > 0) {
      // Dead letters of a retired rule exporter, or of an exporter removed from the config: kept,
      // defined as below so that the dead-letter routes (list, redrive, purge) see them, said once.
      // Before, one a removed exporter left was not defined: GET /api/dead-letters did not list it
      // and its redrive and purge answered 404.
      await streams.defineStream({ name, maxBytes: Math.max(READ_ONLY_MAX_BYTES, info.bytes), onFull: 'reject' });
      warnDeadLetters(log, name, info.records, name.slice(0, -'-dlq'.length));
      continue;
    }
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
        ? `stream '${name}' of an upstream rule action holds ${records} records no exporter sends, and its destination is unknown (no kept options, no stored rule set names it): read them with GET /api/streams/${name}/records or \`gatehouse streams\`, and drop it once they are not needed: \`gatehouse streams drop ${name} --records ${info.records}\` (docs/upstream.md, "Streams no exporter drains")`
        : `stream '${name}' holds ${records} records no exporter sends: add an exporter for it, mark it localOnly if it is only read locally, read them with GET /api/streams/${name}/records, or drop it once they are not needed: \`gatehouse streams drop ${name} --records ${info.records}\` (docs/upstream.md, "Streams no exporter drains")`,
    );
  }
  return out;
}
