// Kept rule exporter options (rule-exporters.ts) for streams an earlier version left without them.
// A version before them kept nothing: a rule update that removed an upstream action left its
// stream's records on disk with no exporter, and after the upgrade no kept options name their
// destination. The stored rule sets (active, last good) may still name the action: its options
// are kept again, and resumeRuleExporters drains the stream. Apart from rule-exporters.ts, which
// exporters.ts imports: this module needs actions/upstream.ts, which imports exporters.ts.
import type { Logger } from 'pino';
import type { LocalStreams } from '../store/types.js';
import type { RuleSetDefinition } from '../../rules/index.js';
import { RULE_ACTION_STREAM, upstreamActionOf } from './actions/upstream.js';
import { RULE_EXPORTER_PREFIX, rememberRuleExporter } from './rule-exporters.js';
import { streamsOnDisk } from './stranded-streams.js';

/**
 * At start, before resumeRuleExporters: each stream of an upstream rule action (`<kind>-<hash>`)
 * that holds records, has no exporter and no kept options (created by a version that kept none,
 * before an upgrade) gets its options kept again when an action of the stored rule sets appends
 * to it: resumeRuleExporters then drains it, retiring. One no set names stays as it is (its
 * destination is unknown: stranded-streams.ts warns). Resolves with the names recovered.
 */
export async function recoverRuleExporters(
  streams: LocalStreams,
  exporters: { has(name: string): boolean },
  sets: ReadonlyArray<RuleSetDefinition | undefined>,
  log: Logger,
): Promise<string[]> {
  if (!streams.metaKeys) return [];
  const kept = new Set(await streams.metaKeys(RULE_EXPORTER_PREFIX));
  const recovered: string[] = [];
  // Such a stream is on disk, not defined: no rule of the running set names it.
  for (const { name, records } of streamsOnDisk(streams)) {
    if (!RULE_ACTION_STREAM.test(name) || exporters.has(name) || kept.has(RULE_EXPORTER_PREFIX + name)) continue;
    if (records === 0) continue;
    const found = upstreamActionOf(sets, name);
    if (!found) continue;
    await rememberRuleExporter(streams, found.stream, found.exporter);
    recovered.push(name);
    log.info(
      { stream: name, destination: found.exporter.destination.type },
      'a stream of an upstream rule action had no kept exporter options (kept since this version): found in a stored rule set, its records are exported',
    );
  }
  return recovered;
}
