// Dropping a local stream nothing uses any more (DELETE /api/streams/{name}, `gatehouse streams
// drop`): a stream removed from the config, or the stream of an upstream rule action an older
// version kept no options for, is found on disk at every start and warned about; its records hold
// disk space (a Pi's SD card) for good. An operator who decided they are not needed drops it.
//
// Nothing that uses it may lose it: the config's streams, a stream an exporter (running or
// retiring) sends or puts its dead letters in, a stream a rule of the active rule set writes, the
// gateway's own streams: each is refused with who
// uses it and how to stop that (GH_STREAM_USED). The last good rule set is not asked: it is most
// often the one that wrote the stream before it was removed, and a rollback to it is safe (a
// stream action naming a stream that is gone refuses the rollback, GH_STREAM_UNKNOWN; an upstream
// action's stream is made anew, its sequences past the dropped one's). A stream holding records goes only when the
// request says how many it expects to throw away, equal to what it holds now
// (GH_STREAM_DROP_COUNT): they never reach upstream, so the operator confirms what they read.
// The store drops it with its records in one write (store/drop.ts): a kill -9 leaves it whole or
// gone. Pending appends refuse it there (GH_STREAM_IN_USE).
//
// The check and the drop are one step with respect to rule-set changes (withoutRuleUpdate: the
// rule host's queue of updates): a rule update adding a stream action that writes the stream,
// landing between the two, was validated against the stream still there and then appended to a
// stream gone. And one operation at a time per stream (stream-operations.ts): a drop while a
// redrive or purge of the stream runs is refused (GH_STREAM_BUSY).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ERRORS } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import type { RuleSetDefinition } from '../../rules/index.js';
import { streamsWrittenByRules } from '../config/checks.js';
import { upstreamStreamsOf } from '../pipeline/actions/upstream.js';
import { removeRetiredSeries } from '../pipeline/retired-metrics.js';
import type { LocalStreams, StreamInfo } from '../store/types.js';
import { createStreamOperations, type StreamOperations } from './stream-operations.js';

export interface StreamDropParts {
  streams: LocalStreams;
  /** The exporters (running and retiring): the streams they send, and every dead-letter stream they write. */
  exporters: { status(): ReadonlyArray<{ name: string; stream: string; retiring?: boolean }>; streamsUsed(): Set<string> };
  /** An exporter's dead-letter stream (its deadLetterStream option; default `<stream>-dlq`). */
  deadLetterStreamOf(exporter: { name: string; stream: string }): string;
  /** Streams the config defines (`streams:`). */
  configured: ReadonlySet<string>;
  /** The rule set running now: its rules' streams are in use. */
  activeRuleSet(): RuleSetDefinition | undefined;
  /** The gateway's own streams ($rule-inputs). */
  isInternal(name: string): boolean;
  /**
   * Runs `work` while no rule-set update (apply, rollback, toggle) runs, and none starts before it
   * ends (the rule host's queue of updates). Absent: `work` runs as it is.
   */
  withoutRuleUpdate?<T>(work: () => Promise<T>): Promise<T>;
  /** The operations running per stream, shared with the dead-letter routes (default: this module's own). */
  operations?: StreamOperations;
  registry: Registry;
  logger: Logger;
}

export interface StreamDropResult {
  stream: string;
  dropped: true;
  /** The records and bytes thrown away with it. */
  records: number;
  bytes: number;
}

export interface StreamDropOps {
  /** Who uses `name` (a reason and how to stop it), or undefined when nothing does. */
  usedBy(name: string): { reason: string; hint: string } | undefined;
  /** Drop `name`; `records`: how many it holds, confirmed by the operator (required when it holds any). */
  drop(name: string, records: number | undefined): Promise<StreamDropResult>;
}

export function createStreamDropOps(p: StreamDropParts): StreamDropOps {
  const log = p.logger.child({ component: 'streams' });
  const dropped = counter(
    p.registry,
    'gatehouse_stream_discarded_records_total',
    'Records thrown away with a local stream an operator dropped (DELETE /api/streams/{name}?records=N): they never reach upstream (retention drops are gatehouse_stream_dropped_total)',
    ['stream'],
  );
  /** Per stream name, since the process started: the series is taken off with the stream's other series at each drop, then set again. */
  const totals = new Map<string, number>();

  function usedBy(name: string): { reason: string; hint: string } | undefined {
    if (p.isInternal(name)) {
      return { reason: "it is the gateway's own stream (the inputs of rule windows and detectors, replayed after a crash)", hint: 'it cannot be dropped' };
    }
    if (p.configured.has(name)) {
      return {
        // A config without streams: gets the default 'archive' (config/schema.ts): not "defined" by its author.
        reason: `it is defined under streams in the config${name === 'archive' ? " (or is the default 'archive' stream of a config that defines no streams)" : ''}`,
        hint: 'remove it from streams in the config (and the exporters and rules naming it; a config without streams: gets archive, its rule and exporter by default), restart the gateway, then drop it',
      };
    }
    const exporters = p.exporters.status();
    const sender = exporters.find((e) => e.stream === name);
    if (sender) {
      return sender.retiring
        ? {
            reason: `exporter '${sender.name}' sends it (retiring: no rule writes it any more; it goes by itself once its backlog is exported)`,
            hint: 'wait for its backlog to be exported (`gatehouse streams` shows it): the stream is then dropped with it',
          }
        : { reason: `exporter '${sender.name}' sends it`, hint: 'remove the exporter from the config and restart the gateway, then drop it' };
    }
    const writer = exporters.find((e) => p.deadLetterStreamOf(e) === name);
    if (writer || p.exporters.streamsUsed().has(name)) {
      return {
        reason: `exporter '${writer?.name ?? '?'}' puts its dead letters there`,
        hint: `clear its dead letters instead (gatehouse streams purge ${name} --through last), or remove the exporter from the config and restart the gateway first`,
      };
    }
    const definition = p.activeRuleSet();
    if (definition) {
      const rule = streamsWrittenByRules(definition).get(name);
      if (rule !== undefined || upstreamStreamsOf([definition]).has(name)) {
        return {
          reason: `${rule !== undefined ? `rule '${rule}'` : 'an upstream action'} of the active rule set (version ${definition.version}) appends to it`,
          hint: 'apply a rule set in which no rule writes it (PUT /api/rules, `gatehouse rules apply`), then drop it',
        };
      }
    }
    return undefined;
  }

  /** The stream as the store knows it: defined, or found on disk only (no config or rule names it). */
  function infoOf(name: string): StreamInfo | undefined {
    if (p.streams.hasStream(name)) return p.streams.info(name);
    return p.streams.undefinedStreams?.().find((i) => i.name === name);
  }

  const operations = p.operations ?? createStreamOperations();
  const withoutRuleUpdate = p.withoutRuleUpdate ?? (<T>(work: () => Promise<T>) => work());

  return {
    usedBy,
    drop(name, expected) {
      return operations.exclusive(name, 'drop', () => withoutRuleUpdate(() => dropNow(name, expected)));
    },
  };

  async function dropNow(name: string, expected: number | undefined): Promise<StreamDropResult> {
    const info = infoOf(name);
    if (!info) {
      throw ERRORS.GH_STREAM_UNKNOWN({ stream: name }, { hint: `known streams: ${p.streams.streamNames().join(', ') || '(none)'}` });
    }
    const use = usedBy(name);
    if (use) throw ERRORS.GH_STREAM_USED({ stream: name, reason: use.reason }, { where: name, hint: use.hint });
    const held = info.records;
    if ((held > 0 && expected === undefined) || (expected !== undefined && expected !== held)) {
      const given = expected === undefined ? ': say how many you expect to throw away with ?records=N' : `, not ${expected}`;
      throw ERRORS.GH_STREAM_DROP_COUNT(
        { stream: name, held, given },
        {
          where: name,
          hint: `its records never reach upstream once dropped: read them first (GET /api/streams/${encodeURIComponent(name)}/records), then confirm with ?records=${held}`,
        },
      );
    }
    if (!p.streams.dropStreams) throw ERRORS.GH_INTERNAL({ reason: 'this store cannot drop streams (no dropStreams)' });
    // GH_STREAM_IN_USE when appends are pending or its count changed meanwhile: nothing removed.
    const gone = await p.streams.dropStreams([name], { records: held });
    // Dropped meanwhile by what the lock does not cover (an emptied dead-letter stream a retiring exporter drops): that one counted.
    if (!gone.includes(name)) throw ERRORS.GH_STREAM_UNKNOWN({ stream: name }, { hint: 'it was dropped meanwhile' });
    // Its series (store, exporters', dead letters') go; then the count of what went with it.
    await removeRetiredSeries(p.registry, { streams: new Set([name]) });
    if (held > 0) {
      const total = (totals.get(name) ?? 0) + held;
      totals.set(name, total);
      dropped.inc({ stream: name }, total);
      log.warn(
        { stream: name, records: held, bytes: info.bytes },
        `stream '${name}' dropped by an operator with the ${held} records it held: they will never reach upstream`,
      );
    } else {
      log.info({ stream: name }, `empty stream '${name}' dropped by an operator`);
    }
    return { stream: name, dropped: true, records: held, bytes: info.bytes };
  }
}
