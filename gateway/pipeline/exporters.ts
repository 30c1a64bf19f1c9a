// The set of exporters of a running gateway: one loop per configured (stream, destination), plus
// the loops that rule actions such as `kinesis` create on demand (see actions/upstream.ts).
// Dead-letter streams are defined before a loop starts. A rule action's exporter whose stream no
// rule of the running set appends to any more retires: it drains the stream, then stops and goes
// with its stream, its empty dead-letter stream, its kept options (one store write:
// store.dropStreams, rule-exporters.ts) and its metric series (retired-metrics.ts).
import type { RuntimeDeps } from '../../core/deps.js';
import type { LocalStreams, StreamOptions } from '../store/types.js';
import { errorMessage } from '../../core/errors.js';
import { forgetRuleExporter, rememberRuleExporter, RULE_EXPORTER_PREFIX, warnDeadLetters } from './rule-exporters.js';
import { removeRetiredSeries } from './retired-metrics.js';
import type { ProxySettings } from '../upstream/proxy.js';
// Not the upstream barrel (index.ts): it holds the static registry of every destination kind.
import { createExporter, type Exporter } from '../upstream/exporter.js';
import type { ExporterOptions } from '../upstream/options.js';
import type { ExporterStatus } from '../upstream/status.js';
import { UplinkScheduler } from '../upstream/rate-limit.js';
import { destinationFrom, type DestinationFactories, type DestinationKinds } from '../upstream/destination-kind.js';
import { lazyDestinationKinds } from '../upstream/loaders.js';

export interface ExporterSet {
  /** Start every exporter in turn. A stop() while it runs wins: the exporters not started yet are not. */
  start(): Promise<void>;
  /** Stop every exporter (one starting finishes its start first: Exporter.stop). */
  stop(): Promise<void>;
  /**
   * Create and (when the set is running) start one more exporter. One already there is kept
   * (added again by a rule action: it no longer retires).
   */
  add(options: ExporterOptions, opts?: AddOptions): Promise<void>;
  has(name: string): boolean;
  /** The streams and dead-letter streams of the exporters there (not to be dropped). */
  streamsUsed(): Set<string>;
  /**
   * An upstream rule action's stream and exporter, validated (actions/upstream.ts): created by
   * activate() once a rule set using it is installed, never for a set that is refused.
   */
  declare(stream: StreamOptions, exporter: ExporterOptions): void;
  /**
   * Before a rule set whose upstream actions append to the streams in `used` is installed: each
   * declared one is kept durably (rule-exporters.ts), its stream defined, its exporter added (and
   * started when the set runs). Declarations of sets never installed are dropped.
   */
  activate(used: ReadonlySet<string>): Promise<void>;
  /**
   * The rule actions of the running set append to the streams in `used`: every other rule action's
   * exporter retires (one in `used` no longer does). Checks at once which retiring ones are drained.
   */
  retireUnused(used: ReadonlySet<string>): Promise<void>;
  status(): ExporterStatus[];
}

export interface AddOptions {
  /** Created by an upstream rule action (actions/upstream.ts): retires once no rule uses it. */
  ruleAction?: boolean;
  /** Retiring from the start: stops and goes once its stream is drained. */
  retiring?: boolean;
}

/** How often retiring exporters are checked for a drained stream. */
const RETIRE_CHECK_MS = 1000;

export interface ExporterSetDeps extends RuntimeDeps {
  streams: LocalStreams;
  dataDir: string;
  /** The gateway's installation id (upstream/installation-id.ts), for nats message ids and s3 keys. */
  installationId?: () => Promise<string>;
  /** The config's gatewayId, for destinations that name the gateway (s3 keys). */
  gatewayId?: string;
  /** Destination factories to use as they are (tests); default: `kinds`. */
  factories?: DestinationFactories;
  /**
   * Where destination kinds come from, each loaded when an exporter needs it (shared with the
   * upstream rule actions: upstream/loaders.ts). Default: a set of its own.
   */
  kinds?: DestinationKinds;
  /** One shared uplink cap (kbit/s) arbitrating between exporters by priority. */
  uplinkKbps?: number;
  /** store.reserveBytes, for destinations writing files. */
  reserveBytes?: number;
  /** The config's network.proxy, for the HTTP-based destinations (upstream/proxy.ts). */
  network?: ProxySettings;
}

export async function createExporterSet(options: ExporterOptions[], deps: ExporterSetDeps): Promise<ExporterSet> {
  const kinds = deps.kinds ?? lazyDestinationKinds();
  const uplink = deps.uplinkKbps ? new UplinkScheduler(deps.uplinkKbps) : undefined;
  const exporters = new Map<string, Exporter>();
  /** Each exporter's options (its dead-letter stream). */
  const optionsOf = new Map<string, ExporterOptions>();
  const ruleActions = new Set<string>();
  let declared = new Map<string, { stream: StreamOptions; exporter: ExporterOptions }>();
  const retiring = new Set<string>();
  let running = false;
  let retireTimer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;

  /**
   * Rule updates (activate) and the removal of a retired exporter take turns: an update bringing
   * the action back either finds the exporter still there (it no longer retires) or finds it gone
   * with its stream dropped, and defines both again; never a stream dropped under it.
   */
  let turn: Promise<void> = Promise.resolve();
  function inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = turn.then(fn);
    turn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Stop and remove each retiring exporter whose stream is drained (delivered up to its last record). */
  async function retireDrained(): Promise<void> {
    for (const name of [...retiring]) {
      const e = exporters.get(name);
      if (!e || !running) continue;
      const { stream } = e.status();
      let drained: boolean;
      try {
        drained = (await deps.streams.getCheckpoint(stream, name)) >= deps.streams.info(stream).lastSeq;
      } catch {
        continue; // the store closing: checked again at the next start
      }
      if (!drained || !retiring.has(name)) continue;
      await e.stop();
      await inTurn(async () => {
        // A message the replaced rule set was handling may have appended meanwhile: not drained any more.
        const stillDrained = await deps.streams.getCheckpoint(stream, name).then(
          (cp) => cp >= deps.streams.info(stream).lastSeq,
          () => false,
        );
        const dropped = retiring.has(name) && stillDrained ? await dropRetired(name, stream) : undefined;
        if (dropped === undefined) {
          if (running) await e.start(); // added again by a rule update while it stopped, or not drained
          return;
        }
        exporters.delete(name);
        retiring.delete(name);
        ruleActions.delete(name);
        optionsOf.delete(name);
        const destination = e.status().destination;
        const shared = [...exporters.values()].some((o) => {
          const d = o.status().destination;
          return d.kind === destination.kind && d.target === destination.target;
        });
        await removeRetiredSeries(deps.registry, {
          exporter: name,
          // Only the streams dropped: a dead-letter stream that stays keeps its series.
          streams: new Set(dropped),
          ...(shared ? {} : { destination }),
        });
        // dropped: the streams that went with it (its own, its dead-letter stream when empty).
        deps.logger.info({ exporter: name, stream, dropped }, 'exporter of a stream no rule uses any more retired: everything it held was exported');
      });
    }
  }

  function deadLetterStreamOf(name: string, stream: string): string {
    return optionsOf.get(name)?.deadLetterStream ?? `${stream}-dlq`;
  }

  /**
   * Drop a drained retiring exporter's stream (its checkpoint and kept options in the same write)
   * and its dead-letter stream when empty and no other exporter writes there (store.dropStreams);
   * one holding records stays, said in a warning. Resolves with the streams dropped; undefined when
   * the store refuses (records appended meanwhile): the exporter then runs on, retiring.
   */
  async function dropRetired(name: string, stream: string): Promise<string[] | undefined> {
    const dlq = deadLetterStreamOf(name, stream);
    const others = [...optionsOf].filter(([n]) => n !== name).map(([, o]) => o);
    // A deadLetterStream the action named may be a configured stream, or another's: only its own default one goes.
    const dlqShared = dlq !== `${stream}-dlq` || others.some((o) => o.stream === dlq || (o.deadLetterStream ?? `${o.stream}-dlq`) === dlq);
    const dlqRecords = deps.streams.hasStream(dlq) ? deps.streams.info(dlq).records : 0;
    const metaKeys = [RULE_EXPORTER_PREFIX + name];
    if (!deps.streams.dropStreams) {
      await forgetRuleExporter(deps.streams, name, deps.logger);
      return [];
    }
    let dropped: string[];
    try {
      dropped = await deps.streams.dropStreams([stream, ...(dlqShared || dlqRecords > 0 ? [] : [dlq])], { consumer: name, metaKeys });
    } catch (err) {
      deps.logger.debug({ err: errorMessage(err), exporter: name, stream }, 'the stream of a retiring exporter was not dropped: it stays, checked again');
      return undefined;
    }
    if (dlqRecords > 0 && !dlqShared) warnDeadLetters(deps.logger, dlq, dlqRecords, stream);
    return dropped;
  }

  /**
   * The once-a-second check runs only while an exporter retires: an idle gateway (a Pi) is not
   * woken for nothing.
   */
  function pollRetiring(): void {
    if (running && retiring.size > 0) retireTimer ??= setInterval(() => void checkRetiring(), RETIRE_CHECK_MS).unref();
    else if (retireTimer) {
      clearInterval(retireTimer);
      retireTimer = undefined;
    }
  }
  function checkRetiring(): Promise<void> {
    checking ??= retireDrained().finally(() => {
      checking = undefined;
      pollRetiring();
    });
    return checking;
  }

  async function build(o: ExporterOptions): Promise<Exporter> {
    const dlq = o.deadLetterStream ?? `${o.stream}-dlq`;
    if (!deps.streams.hasStream(dlq)) await deps.streams.defineStream({ name: dlq, maxBytes: o.deadLetterMaxBytes, onFull: 'drop-oldest' });
    const logger = deps.logger; // the exporter and destination add their own name to each line
    // The kind's module is imported here, the first time an exporter uses it (upstream/loaders.ts).
    if (!deps.factories) await kinds.load([o.destination.type]);
    const destination = destinationFrom(
      o.destination,
      {
        logger,
        registry: deps.registry,
        dataDir: deps.dataDir,
        ...(deps.installationId === undefined ? {} : { installationId: deps.installationId }),
        ...(deps.gatewayId === undefined ? {} : { gatewayId: deps.gatewayId }),
        ...(deps.reserveBytes === undefined ? {} : { reserveBytes: deps.reserveBytes }),
        ...(deps.network === undefined ? {} : { network: deps.network }),
      },
      deps.factories ?? kinds.factories,
    );
    return createExporter(o, { logger, registry: deps.registry, streams: deps.streams, destination, ...(uplink ? { uplink } : {}) });
  }

  async function add(o: ExporterOptions, opts: AddOptions = {}): Promise<void> {
    if (opts.ruleAction) ruleActions.add(o.name);
    if (opts.retiring) retiring.add(o.name);
    else retiring.delete(o.name);
    pollRetiring();
    if (exporters.has(o.name)) return;
    const e = await build(o);
    exporters.set(o.name, e);
    optionsOf.set(o.name, o);
    if (running) await e.start();
  }

  for (const o of options) {
    exporters.set(o.name, await build(o));
    optionsOf.set(o.name, o);
  }
  return {
    async start() {
      running = true;
      pollRetiring();
      // A stop while an exporter starts wins: the ones after it do not start (they did, after the
      // stop had returned, and ran until the process ended).
      for (const e of exporters.values()) {
        if (!running) break;
        await e.start();
      }
    },
    async stop() {
      running = false;
      clearInterval(retireTimer);
      retireTimer = undefined;
      await checking;
      await Promise.all([...exporters.values()].map((e) => e.stop()));
    },
    add,
    has: (name) => exporters.has(name),
    streamsUsed: () => new Set([...optionsOf.values()].flatMap((o) => [o.stream, o.deadLetterStream ?? `${o.stream}-dlq`])),
    declare(stream, exporter) {
      declared.set(exporter.name, { stream, exporter });
    },
    activate(used) {
      const ready = declared;
      declared = new Map();
      return inTurn(async () => {
        for (const name of used) {
          const d = ready.get(name);
          if (!d) continue;
          // Kept beside the stream first: once no rule appends to it, its backlog is still exported
          // (after a restart too) until drained.
          await rememberRuleExporter(deps.streams, d.stream, d.exporter);
          if (!deps.streams.hasStream(d.stream.name)) await deps.streams.defineStream(d.stream);
          await add(d.exporter, { ruleAction: true });
        }
      });
    },
    async retireUnused(used) {
      for (const name of ruleActions) {
        if (used.has(name)) retiring.delete(name);
        else retiring.add(name);
      }
      await checkRetiring();
    },
    status: () => [...exporters.values()].map((e) => (retiring.has(e.status().name) ? { ...e.status(), retiring: true } : e.status())),
  };
}
