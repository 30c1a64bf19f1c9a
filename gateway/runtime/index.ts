// A running gateway: the parts of gateway/pipeline/ (read pipeline/index.ts for the data path)
// built in construction order, started, and stopped in reverse.
//
// Construction: store -> sources (created, not reading) -> actions -> exporters -> rules ->
// ingest -> control -> admin. Start: internal sources, rules, exporters, broker, serial and
// configured sources, control, admin. Stop: control, sources (stop reading), drain in-flight
// commits, exporters, rules, store, admin.
// First: mqtt-packet must get its debug instances through it (see the module).
import '../broker/quiet-debug.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Broker } from '../broker/index.js';
import { openLocalStreams, type OpenWait } from '../store/index.js';
import { toStreamOptions } from '../store/options.js';
import type { LocalStreams } from '../store/types.js';
import { createAdminServer, type AdminServer, type AdminSource } from '../admin/server.js';
import type { SerialBridge } from '../../firmware-bridge/index.js';
import { errorMessage } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import { DEFAULT_RULE_SET, defaultExporters, type GatehouseConfig } from '../config/index.js';
import { exporterOptionsSchema } from '../upstream/options.js';
import { lazyDestinationKinds } from '../upstream/loaders.js';
import { lazyInstallationId, storeFolderIdentity, storeLockIdentity } from '../upstream/installation-id.js';
import { readMachineFingerprint, type ReadMachineFingerprint } from '../upstream/machine.js';
import {
  BrokerSource,
  ControlSource,
  Ingest,
  RepublishSource,
  RuleHost,
  SerialSource,
  SourceSet,
  buildActionRegistry,
  createConfiguredSources,
  createExporterSet,
  localOnlyStreams,
  reportStrandedStreams,
  dropEmptyActionStreams,
  recoverRuleExporters,
  resumeRuleExporters,
  upstreamStreamsOf,
  type ExporterSet,
  type SourceEntry,
} from '../pipeline/index.js';
import { protoDescriptorDirOf, protoDescriptorFolder } from '../pipeline/proto-descriptors.js';
import { buildAdminSource } from './admin-source.js';
import { makeDataDir } from './data-dir.js';
import type { CertWatch } from '../upstream/cert-watch.js';
import type { LookupTables } from '../tables/index.js';
import { NO_LOOKUP_TABLES } from '../../rules/index.js';
import { watchCertificates } from './certificates.js';
import { switchableSource, waitingSource } from './waiting-admin.js';
import type { Activity } from './activity.js';
import { startActivityFeed } from './activity-feed.js';
import { ownedMetrics } from './owned-metrics.js';
import { startHostHealth, type HostHealth } from './host/health.js';
import { createUpdateVerifier } from '../control/verify.js';
import { controlTopicGuard, controlTopics, startControlPlane, type ControlPlane, type JobRunEvent } from '../control/index.js';
import { sourceListeners } from './source-listeners.js';
import { ShadowSource } from '../shadow/index.js';

export interface GatewayOptions {
  logger: Logger;
  /**
   * Where the gateway declares its metrics. They are taken off it again when the gateway stops or
   * its start fails, so a start again on the same registry works (owned-metrics.ts); the metrics
   * that were on it before, or that the caller declares beside the gateway, stay.
   */
  registry: Registry;
  version: string;
  /**
   * A store that cannot open because the disk is full is waited out (store/open-wait.ts), the
   * admin API answering 503 meanwhile, until space is freed or this signal aborts (the start then
   * rejects with signal.reason). Without it such a start fails with GH_STORE_DISK_FULL. An abort
   * once the store is open does not end the start: it resolves with the gateway up, which the
   * caller stops (the CLI does so at once); a caller has no stop() before then.
   */
  signal?: AbortSignal;
  /** Told when the start begins (true) and ends (false) waiting for disk space. */
  onStoreWait?: (waiting: boolean) => void;
  /** Told at each failed open while the start waits for disk space (its figures), and with undefined once open. */
  onStoreWaitUpdate?: (wait: OpenWait | undefined, storePath: string) => void;
  /**
   * Reads the fingerprint of the machine the installation id is bound to (upstream/machine.ts;
   * default: this machine's). Tests give two "machines" through it.
   */
  machineFingerprint?: ReadMachineFingerprint;
  /** Root of the /sys and /proc files host health reads (runtime/host/): '/' but in tests, which give a fake tree. */
  hostRoot?: string;
}

export interface Gateway {
  readonly config: GatehouseConfig;
  readonly streams: LocalStreams;
  readonly broker: Broker;
  readonly rules: RuleHost;
  readonly serial: SerialBridge;
  /** Every source (built in and configured), for /api/sources and metrics. */
  readonly sources: SourceSet;
  readonly ingest: Ingest;
  readonly exporters: ExporterSet;
  readonly admin: AdminServer | undefined;
  readonly activity: Activity;
  /** Remote rule updates and scheduled jobs. */
  readonly control: ControlPlane;
  /** The expiry of the certificates the gateway presents or trusts upstream (read again on SIGHUP). */
  readonly certs: CertWatch;
  /** The lookup tables of get_dynamodb() (`tables:`; read again on SIGHUP); undefined when the config names none. */
  readonly tables: LookupTables | undefined;
  /** The board's temperature, power and wear (runtime/host/health.ts). */
  readonly host: HostHealth;
  /** The local Device Shadow service (gateway/shadow/); absent with shadows.enabled: false. */
  readonly shadows?: ShadowSource;
  /** Wall time (epoch ms) of the start: shown, never subtracted from (the wall clock is stepped). */
  readonly startedAt: number;
  /** Monotonic ms (core/clock.ts monotonicNow) of the start: uptime = monotonicNow() - startedMono. */
  readonly startedMono: number;
  /** Graceful stop: stop accepting, flush, close. Idempotent: every call returns the one stop. */
  stop(): Promise<void>;
}

export async function startGateway(config: GatehouseConfig, opts: GatewayOptions): Promise<Gateway> {
  const { logger } = opts;
  // Every metric the gateway declares goes through this handle, and off the registry again when
  // it stops or its start fails: a start on the same registry after either works (owned-metrics.ts).
  const owned = ownedMetrics(opts.registry);
  const registry = owned.registry;
  const deps = { logger, registry };
  // Made if missing; a failure says whether the configuration or the disk is to fix (data-dir.ts).
  await makeDataDir(config.dataDir);
  const openingMono = monotonicNow();
  const storePath = join(config.dataDir, 'store');

  // The admin API comes up early only while the store waits for space (waiting-admin.ts).
  let early: { admin: AdminServer; use(next: AdminSource): void } | undefined;
  let wait: OpenWait | undefined;
  const waitForSpace = {
    ...(opts.signal ? { signal: opts.signal } : {}),
    onWait: async (w: OpenWait | undefined): Promise<void> => {
      if ((wait === undefined) !== (w === undefined)) opts.onStoreWait?.(w !== undefined);
      wait = w;
      opts.onStoreWaitUpdate?.(w, storePath);
      if (w && !early && config.admin.enabled) {
        const switchable = switchableSource(
          waitingSource({ wait: () => wait, gatewayId: config.gatewayId, version: opts.version, startedMono: openingMono, storePath }),
        );
        const admin = createAdminServer(config.admin, { logger: logger.child({ c: 'admin' }), registry, source: switchable.source });
        await admin.start();
        early = { admin, use: switchable.use };
      }
    },
  };
  const storeDeps = { logger: logger.child({ c: 'store' }), registry };
  const streams = await openLocalStreams({ ...config.store, path: storePath }, storeDeps, waitForSpace).catch(async (err: unknown) => {
    await early?.admin.stop();
    owned.release();
    throw err;
  });
  // Uptime counts from here: a wait for disk space is not time the gateway ran.
  const startedAt = Date.now();
  const startedMono = monotonicNow();
  const cleanup: Array<() => Promise<void>> = [() => streams.close()];
  const earlyAdmin = early?.admin;
  if (earlyAdmin) cleanup.push(() => earlyAdmin.stop());
  const unwind = async (): Promise<void> => {
    for (const f of cleanup.reverse()) await f().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'cleanup after failed start'));
    owned.release();
  };
  try {
    // The installation id of nats message ids and s3 keys, bound to this store and machine: made
    // anew (one warning) when either is not the one it was made with (upstream/installation-id.ts).
    // Resolved now, so the warning comes at the start and an upgrade's store adopts it at once; a
    // failure (a full disk) is tried again at the first send that needs it.
    const storeIdentity = streams.identity?.();
    const installationId = lazyInstallationId(
      config.dataDir,
      storeIdentity && {
        store: storeIdentity,
        machine: opts.machineFingerprint ?? (() => readMachineFingerprint()),
        log: logger.child({ c: 'upstream' }),
        folder: await storeFolderIdentity(storePath),
        lockFile: await storeLockIdentity(storePath),
      },
    );
    await installationId().catch((err: unknown) =>
      logger.warn({ err: errorMessage(err) }, 'the installation id could not be read or kept (tried again at the first nats or s3 send)'),
    );
    for (const [name, s] of Object.entries(config.streams)) await streams.defineStream(toStreamOptions(name, s));

    // The local Device Shadow service (gateway/shadow/): the broker hands it $aws/things/... publishes.
    let brokerRef: Broker | undefined;
    const shadows = config.shadows.enabled
      ? new ShadowSource(config.shadows, { logger, registry, store: streams, publish: (p) => (brokerRef as Broker).publish(p) })
      : undefined;
    const controlGuard = controlTopicGuard(config.control, config.gatewayId);
    // Sources, created but not reading. The broker is also an output (republish, serial echo, control).
    // MQTT 5 sessions with a Session Expiry Interval survive restarts in mqtt5-sessions.json
    const mqtt = await BrokerSource.create(config.broker, {
      logger: logger.child({ c: 'broker' }),
      registry,
      // clients may not publish on the control topics, nor the shadow service's answers
      topicGuard: shadows ? { refusePublish: (topic, user) => shadows.refusePublish(topic) ?? controlGuard?.refusePublish(topic, user) } : controlGuard,
      ...(shadows ? { thingsTap: shadows.handle } : {}),
      // the retained rule status is the gateway's own, not clients' data: outside broker.maxRetainedMessages / maxRetainedBytes
      gatewayStateTopics: [controlTopics(config.control.prefix, config.gatewayId).status],
      sessionFile: join(config.dataDir, 'mqtt5-sessions.json'),
      // Retained messages survive restarts too (mqtt-retained.json).
      retainedFile: join(config.dataDir, 'mqtt-retained.json'),
      version: opts.version,
    });
    const broker = mqtt.broker;
    brokerRef = broker;
    cleanup.push(() => broker.stop());
    const serial = await SerialSource.create(config.serial, { logger: logger.child({ c: 'serial' }), registry, broker });
    const republish = new RepublishSource(broker);
    const controlSource = new ControlSource();
    const configured = await createConfiguredSources((config.sources ?? []) as SourceEntry[], {
      logger: logger.child({ c: 'sources' }),
      registry,
      dataDir: config.dataDir,
      // An MQTT source's clientId may hold ${gatewayId} and ${installationId}.
      gatewayId: config.gatewayId,
      installationId,
      publish: (topic, payload, o) => void broker.publish({ topic, payload, qos: 0, ...(o?.retain ? { retain: true } : {}) }).catch(() => undefined),
      subscribe: (filter, handler) => broker.subscribe(filter, handler),
      // A sparkplug source's default broker (started before the configured sources).
      // an MQTT client of the gateway's own (sparkplug) connects over TCP: not to a WebSocket listener
      localBroker: () => broker.addresses().filter((a) => a.protocol === 'mqtt'),
      maxTopicLength: config.broker.maxTopicLength,
      // An MQTT source's way to its broker: direct or through the site's proxy (upstream/proxy.ts).
      network: { proxy: config.network.proxy },
    });

    // Exporters exist before the rules: upstream rule actions (kinesis, http, ...) add their own.
    const exporterOptions = config.exporters ?? (config.streams.archive ? defaultExporters().map((e) => exporterOptionsSchema.parse(e)) : []);
    // A destination kind's module is loaded when an exporter or a rule set's action uses it (upstream/loaders.ts).
    const destinations = lazyDestinationKinds();
    const exporters = await createExporterSet(exporterOptions, {
      ...deps,
      kinds: destinations,
      streams,
      dataDir: config.dataDir,
      installationId,
      gatewayId: config.gatewayId,
      uplinkKbps: config.uplink.bandwidthKbps,
      reserveBytes: config.store.reserveBytes,
      network: { proxy: config.network.proxy },
    });
    const actions = buildActionRegistry({
      mode: 'live',
      deps: { logger: logger.child({ c: 'actions' }), registry, dataDir: config.dataDir },
      // a rule republishing to $$aws/things/<thing>/shadow/update updates that shadow (gateway/shadow/)
      publisher: shadows ? shadows.tapPublisher(republish.publisher) : republish.publisher,
      streams,
      links: serial.bridge,
      exporters,
      destinations,
    });
    // Signature policy for rule set updates (remote, admin, CLI); bad keys fail the start here.
    const verifier = createUpdateVerifier(config.control, registry);
    // Lookup tables: their loaders imported only when `tables:` names one; a table that does not load fails the start.
    const tables = Object.keys(config.tables).length
      ? await (await import('../tables/index.js')).LookupTables.load(config.tables, { registry, logger: logger.child({ c: 'tables' }) })
      : undefined;
    const rules = new RuleHost({
      logger: logger.child({ c: 'rules' }),
      registry,
      streams,
      actions,
      destinations,
      verifier,
      ruleState: config.ruleState,
      protoDescriptors: protoDescriptorFolder(protoDescriptorDirOf(config)),
      ...(shadows ? { shadows: shadows.lookup } : {}),
      lookupTables: tables ?? NO_LOOKUP_TABLES,
      builtInDefault: DEFAULT_RULE_SET,
      // The streams and exporters of the set's upstream actions (kinesis, http, ...), created before it runs.
      beforeInstall: (definition) => exporters.activate(upstreamStreamsOf([definition])),
    });
    const ingest = new Ingest(rules, streams);
    const sources = new SourceSet([mqtt, serial, ...configured, controlSource, republish, ...(shadows ? [shadows] : [])], ingest, registry);
    // A start failing later stops the rules it loaded (their engine's timers, checkpoints and
    // metrics ran on, on a closed store, in a process that goes on: an embedder's); after the
    // sources (the clean-up runs last first), as a stop does: no message reaches stopped rules.
    cleanup.push(() => rules.stop());
    cleanup.push(() => sources.stop());

    // Internal sources first: rules restored from the store may republish as soon as they start.
    // (the shadows too: stored ones are read now, so get_thing_shadow() finds them from the first message)
    await sources.start((s) => s === republish || s === controlSource || s === shadows);
    await rules.loadInitial(config.rulesFile ?? config.rules ?? DEFAULT_RULE_SET, config.rulesFile !== undefined);
    // Streams of upstream rule actions no rule uses any more keep their exporter until drained
    // (a removed or changed action's backlog: pipeline/rule-exporters.ts); checked at each update.
    const retireUnused = (): Promise<void> => exporters.retireUnused(upstreamStreamsOf([rules.activeDefinition()]));
    const exportersLog = logger.child({ c: 'exporters' });
    // Such a stream from a version that kept no options: its action looked for in the stored sets.
    await recoverRuleExporters(streams, exporters, [rules.activeDefinition(), rules.lastGoodDefinition()], exportersLog);
    await resumeRuleExporters(streams, exporters, exportersLog);
    await retireUnused();
    // What retired rule actions left empty goes (their stream, options, empty dead-letter stream).
    await dropEmptyActionStreams(streams, exporters.streamsUsed(), new Set(Object.keys(config.streams)), exportersLog);
    // Whatever holds records no exporter drains is said once, here (pipeline/stranded-streams.ts).
    await reportStrandedStreams(streams, new Set(exporters.status().map((e) => e.stream)), localOnlyStreams(config.streams), exportersLog);
    rules.on('status', () => void retireUnused().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'retiring unused rule exporters')));
    // Client certificates and CA bundles of upstream connections and rule actions: expiry gauges and warnings (runtime/certificates.ts).
    const certs = await watchCertificates(config, rules, deps);
    cleanup.push(async () => certs.stop());
    // The board: temperature, under-voltage and throttling, pressure stall, eMMC wear (runtime/host/).
    const host = await startHostHealth({ logger: logger.child({ c: 'host' }), registry, ...(opts.hostRoot ? { root: opts.hostRoot } : {}) });
    cleanup.push(async () => host.stop());

    // Pushed before the start: one failing partway leaves the ones started before it running.
    cleanup.push(() => exporters.stop());
    await exporters.start();
    await sources.start();

    // Recent activity for the status page: rates, alerts seen on the broker, rule set updates.
    const activity = startActivityFeed({ registry, broker, rules, alertTopics: config.admin.alertTopics });
    cleanup.push(async () => activity.stop());

    // Control plane: remote rule updates and scheduled jobs; its heartbeats enter the rules
    // through the control source, so an archive rule and the MQTT bridge exporter carry them.
    const control: ControlPlane = await startControlPlane({
      logger,
      registry,
      gatewayId: config.gatewayId,
      version: opts.version,
      startedAt,
      startedMono,
      dataDir: config.dataDir,
      installationId: installationId.known,
      // control.upstream.clientId may hold ${installationId} (gatehouse-control-${installationId}).
      loadInstallationId: installationId,
      control: config.control,
      // control.upstream through the site's proxy (upstream/proxy.ts).
      network: { proxy: config.network.proxy },
      jobs: config.jobs,
      rules,
      streams,
      verifier,
      local: {
        subscribe: (filter, handler) => broker.subscribe(filter, handler),
        publish: (p) => broker.publish(p),
        ingest: controlSource.ingest,
        onPublishRefused: (l) => broker.onPublishRefused(l),
      },
    });
    cleanup.push(() => control.stop());
    control.jobs.on('run', (e: JobRunEvent) => activity.jobRun(e.job, e.result, e.error));

    let stopping = false;
    let admin: AdminServer | undefined;
    const parts = {
      config,
      streams,
      broker,
      rules,
      serial: serial.bridge,
      sources,
      exporters,
      activity,
      startedAt,
      startedMono,
      installationId: installationId.known,
      certs,
      host,
      ...(shadows ? { shadows } : {}),
      // The served ones beside them in /healthz: the broker's TLS listeners', http sources', the admin API's once it runs.
      served: () => [...broker.servedCertificates(), ...sources.servedCertificates(), ...(admin?.servedCertificates() ?? [])],
    };
    const source = config.admin.enabled
      ? buildAdminSource({ ...parts, probation: control.probation, jobs: control.jobs, registry, logger }, () => stopping, opts.version)
      : undefined;
    if (early && source) {
      early.use(source);
      admin = early.admin;
    } else if (source) {
      const created = createAdminServer(config.admin, { logger: logger.child({ c: 'admin' }), registry, source });
      await created.start();
      cleanup.push(() => created.stop());
      admin = created;
    }
    const stopAll = async (): Promise<void> => {
      stopping = true;
      logger.info('stopping: closing listeners and serial links');
      await control.stop();
      await sources.stop(
        () => true,
        (err, s) => logger.warn({ err, source: s.name }, 'source stop failed'),
      );
      // Appends waiting for space in a full stream cannot be acknowledged any more (the clients
      // are gone): refused now instead of holding the stop until shutdownTimeoutMs.
      const refused = streams.refuseWaitingForSpace();
      if (refused > 0) logger.info({ refused }, 'stopping: appends waiting for space in a full stream refused (not acknowledged; devices resend)');
      const drained = await ingest.drain(config.shutdownTimeoutMs);
      if (!drained) logger.warn({ pending: ingest.inFlight }, 'shutdown timeout: some commits were still pending (their publishers were not acknowledged)');
      await exporters.stop();
      await rules.stop();
      await streams.close();
      activity.stop();
      certs.stop();
      host.stop();
      await admin?.stop();
      owned.release();
      logger.info('stopped');
    };
    // Every call returns the one stop: a second one (made while it runs) resolves when the gateway
    // has stopped, not at once while the final checkpoint and the store's close still run.
    let stopped: Promise<void> | undefined;
    const gateway: Gateway = {
      ...parts,
      ingest,
      admin,
      control,
      tables,
      stop: () => (stopped ??= stopAll()),
    };
    logger.info(
      {
        mqtt: broker.addresses(),
        admin: admin?.address(),
        // where the network sources listen, with the ports a port 0 took
        ...sourceListeners(configured.map((s) => s.status())),
        dataDir: config.dataDir,
        version: opts.version,
      },
      'gatehouse started',
    );
    return gateway;
  } catch (err) {
    await unwind();
    throw err;
  }
}
