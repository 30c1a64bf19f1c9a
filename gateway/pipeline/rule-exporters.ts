// The exporters upstream rule actions (kinesis, http, ...; actions/upstream.ts) create, kept
// durably beside their streams: a stream's records were PUBACKed to devices, so its exporter must
// outlive the action. A rule update that removes the action, or changes its destination (a new
// stream name), leaves the old stream with a backlog while the destination was down; the config
// does not name that stream, so without what is kept here a restart found its records on disk
// with no exporter, never sent.
//
// Kept under upstream/exporters/<stream> in the store's meta area: the stream's options and the
// exporter's (destination included). At start (resumeRuleExporters) every kept stream that still
// holds records no rule action appends to gets its exporter back, retiring: it drains the stream,
// then stops and goes with its stream (ExporterSet). A kept stream already drained is dropped at
// once, with its options and its empty dead-letter stream (store.dropStreams).
// A version before this kept no options: for a stream of such an action still holding records,
// the stored rule sets (active, last good) are searched for the action (rule-exporter-recovery.ts).
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import type { LocalStreams, StreamOptions } from '../store/types.js';
import { exporterOptionsSchema, type ExporterOptions } from '../upstream/options.js';

/** What resumeRuleExporters needs of the ExporterSet (exporters.ts imports this module: no cycle). */
interface ExporterAdder {
  has(name: string): boolean;
  /** The streams and dead-letter streams of the exporters there. */
  streamsUsed(): Set<string>;
  add(options: ExporterOptions, opts: { ruleAction: boolean; retiring: boolean }): Promise<void>;
}

export const RULE_EXPORTER_PREFIX = 'upstream/exporters/';

interface KeptExporter {
  stream: StreamOptions;
  exporter: ExporterOptions;
}

type MetaStore = Pick<LocalStreams, 'getMeta' | 'putMeta'>;

/** Keep a rule action's stream and exporter options (written only when they changed). */
export async function rememberRuleExporter(streams: MetaStore, stream: StreamOptions, exporter: ExporterOptions): Promise<void> {
  const value = Buffer.from(JSON.stringify({ stream, exporter } satisfies KeptExporter));
  const key = RULE_EXPORTER_PREFIX + exporter.name;
  const before = await streams.getMeta(key);
  if (before?.equals(value)) return;
  await streams.putMeta(key, value);
}

/** Forget a drained rule exporter's options. Never rejects (kept options are forgotten at the next start). */
export async function forgetRuleExporter(streams: Pick<LocalStreams, 'deleteMetas'>, name: string, log: Logger): Promise<void> {
  try {
    await streams.deleteMetas?.([RULE_EXPORTER_PREFIX + name]);
  } catch (err) {
    log.warn({ err: errorMessage(err), exporter: name }, 'the options of a retired exporter were not deleted (retried at the next start)');
  }
}

/**
 * A retired exporter's dead-letter stream holding records stays (defined: /api/streams and
 * `gatehouse streams` list it), said in one warning with how to read the records out.
 */
export function warnDeadLetters(log: Logger, dlq: string, records: number, stream: string): void {
  log.warn(
    { stream: dlq, records, of: stream },
    `dead-letter stream '${dlq}' of the retired exporter of '${stream}' holds ${records} records its destination refused: it stays (bounded by deadLetterMaxBytes, oldest dropped first); read them with GET /api/streams/${dlq}/records or 'gatehouse streams dead-letters ${dlq}', send them again with 'gatehouse streams redrive ${dlq} --to STREAM' or clear them with 'gatehouse streams purge ${dlq} --through SEQ': emptied, it goes (docs/upstream.md, "Dead letters")`,
  );
}

/**
 * Forget a drained rule exporter's stream at start: dropped with its kept options and its
 * dead-letter stream when empty, in one store write (store.dropStreams); only the options where
 * the store cannot drop (an in-memory store) or refuses (never rejects: kept for the next start).
 */
async function forgetDrained(streams: LocalStreams, name: string, stream: string, dlq: string, inUse: ReadonlySet<string>, log: Logger): Promise<void> {
  if (!streams.dropStreams) return forgetRuleExporter(streams, name, log);
  // Its own default dead-letter stream only: one the action named may be a configured stream.
  const held = streams.hasStream(dlq) ? streams.info(dlq).records : (streams.undefinedStreams?.().find((i) => i.name === dlq)?.records ?? 0);
  const dlqEmpty = dlq === `${stream}-dlq` && !inUse.has(dlq) && held === 0;
  try {
    await streams.dropStreams([stream, ...(dlqEmpty ? [dlq] : [])], { consumer: name, metaKeys: [RULE_EXPORTER_PREFIX + name] });
  } catch (err) {
    log.warn({ err: errorMessage(err), exporter: name, stream }, 'the stream of a retired rule exporter was not dropped (tried again at the next start)');
  }
}

/**
 * At start, after the rule set is loaded (its actions have added their exporters): each kept rule
 * exporter not in `exporters` whose stream holds records it has not delivered is added back,
 * retiring; one with nothing left is forgotten. Resolves with the names added back.
 */
export async function resumeRuleExporters(streams: LocalStreams, exporters: ExporterAdder, log: Logger): Promise<string[]> {
  if (!streams.metaKeys) return [];
  const resumed: string[] = [];
  for (const key of await streams.metaKeys(RULE_EXPORTER_PREFIX)) {
    const name = key.slice(RULE_EXPORTER_PREFIX.length);
    if (exporters.has(name)) continue;
    let kept: KeptExporter;
    try {
      const raw = JSON.parse((await streams.getMeta(key))?.toString('utf8') ?? 'null') as KeptExporter | null;
      if (!raw) continue;
      kept = { stream: raw.stream, exporter: exporterOptionsSchema.parse(raw.exporter) };
    } catch (err) {
      log.error({ err: errorMessage(err), key }, 'the kept options of a rule exporter cannot be read: its stream is not exported (see docs/upstream.md)');
      continue;
    }
    if (!streams.hasStream(kept.stream.name)) await streams.defineStream(kept.stream);
    const info = streams.info(kept.stream.name);
    const delivered = await streams.getCheckpoint(kept.stream.name, name);
    if (info.records === 0 || delivered >= info.lastSeq) {
      const dlq = kept.exporter.deadLetterStream ?? `${kept.stream.name}-dlq`;
      await forgetDrained(streams, name, kept.stream.name, dlq, exporters.streamsUsed(), log);
      continue;
    }
    try {
      await exporters.add(kept.exporter, { ruleAction: true, retiring: true });
    } catch (err) {
      // Options an older version kept that this one refuses: the gateway starts, the records stay.
      log.error(
        { err: errorMessage(err), stream: kept.stream.name, records: info.lastSeq - delivered },
        'the exporter of a stream no rule uses any more cannot be created again: its records stay in the stream, not exported (see docs/upstream.md)',
      );
      continue;
    }
    resumed.push(name);
    log.warn(
      { stream: kept.stream.name, records: info.lastSeq - delivered, bytes: info.bytes, destination: kept.exporter.destination.type },
      'a stream of an upstream rule action no rule uses any more holds records not exported: its exporter runs until they are sent, then retires',
    );
  }
  return resumed;
}
