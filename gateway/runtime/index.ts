// A running gateway: the data path of the design wired end to end.
//
//   broker (aedes) ─┐
//   serial links ───┴─► rules engine ─► actions ─► local streams (group commit) ─► exporters ─► upstream
//
// Start order is store -> rules -> exporters -> sources -> admin; stop is the reverse for sources
// (stop accepting first), then in-flight durable work is awaited, exporters stop, the store flushes
// and closes, and the admin API goes last.
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createBroker, type Broker } from '../broker/index.js';
import { openLocalStreams } from '../store/index.js';
import { toStreamOptions } from '../store/options.js';
import type { LocalStreams } from '../store/types.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import { createSerialBridge, type SerialBridge } from '../../firmware-bridge/index.js';
import type { Message } from '../../core/message.js';
import { errorMessage } from '../../core/errors.js';
import { DEFAULT_RULE_SET, defaultExporters, type GatehouseConfig } from '../config/index.js';
import { exporterOptionsSchema } from '../upstream/options.js';
import { createExporterSet, type ExporterSet } from './exporters.js';
import { upstreamActionFactories } from './upstream-actions.js';
import { RuleHost, type RuleUpdateStatus } from './rule-host.js';
import { buildAdminSource } from './admin-source.js';
import { InflightTracker } from './inflight.js';
import { Activity } from './activity.js';
import { createUpdateVerifier } from '../control/verify.js';
import { startControlPlane, type ControlPlane } from '../control/index.js';

export interface GatewayOptions {
  logger: Logger;
  registry: Registry;
  version: string;
}

export interface Gateway {
  readonly config: GatehouseConfig;
  readonly streams: LocalStreams;
  readonly broker: Broker;
  readonly rules: RuleHost;
  readonly serial: SerialBridge;
  readonly exporters: ExporterSet;
  readonly admin: AdminServer | undefined;
  readonly activity: Activity;
  /** Remote rule updates and scheduled jobs. */
  readonly control: ControlPlane;
  readonly startedAt: number;
  /** Graceful stop: stop accepting, flush, close. Idempotent. */
  stop(): Promise<void>;
}

export async function startGateway(config: GatehouseConfig, opts: GatewayOptions): Promise<Gateway> {
  const { logger, registry } = opts;
  const deps = { logger, registry };
  await mkdir(config.dataDir, { recursive: true });
  const startedAt = Date.now();

  const streams = await openLocalStreams({ ...config.store, path: join(config.dataDir, 'store') }, { logger: logger.child({ c: 'store' }), registry });
  const cleanup: Array<() => Promise<void>> = [() => streams.close()];
  const unwind = async (): Promise<void> => {
    for (const f of cleanup.reverse()) await f().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'cleanup after failed start'));
  };
  try {
    for (const [name, s] of Object.entries(config.streams)) await streams.defineStream(toStreamOptions(name, s));

    const inflight = new InflightTracker();
    // The broker is created before the rules (republish needs it) but listens only at the end.
    let rules!: RuleHost;
    const ingest = (msg: Message): Promise<void> | undefined => {
      const p = rules.handle(msg);
      return p === undefined ? undefined : inflight.track(p);
    };
    const broker = await createBroker(config.broker, { logger: logger.child({ c: 'broker' }), registry, onPublish: ingest });
    cleanup.push(() => broker.stop());

    const serial = createSerialBridge(config.serial, {
      logger: logger.child({ c: 'serial' }),
      registry,
      onMessage: (msg) => {
        // Serial telemetry is also visible to MQTT subscribers on its topic.
        broker.publish({ topic: msg.topic, payload: msg.payload, qos: 0 }).catch(() => undefined);
        return ingest(msg);
      },
      subscribe: (filter, handler) => broker.subscribe(filter, handler),
    });

    // Signature policy for rule set updates (remote, admin, CLI); bad keys fail the start here.
    const verifier = createUpdateVerifier(config.control, registry);
    // Exporters exist before the rules: upstream rule actions (kinesis, http, ...) add their own.
    const exporterOptions = config.exporters ?? (config.streams.archive ? defaultExporters().map((e) => exporterOptionsSchema.parse(e)) : []);
    const exporters = await createExporterSet(exporterOptions, { ...deps, streams, dataDir: config.dataDir, uplinkKbps: config.uplink.bandwidthKbps });

    rules = new RuleHost({
      logger: logger.child({ c: 'rules' }),
      registry,
      streams,
      serial,
      verifier,
      extraActions: upstreamActionFactories({ logger: logger.child({ c: 'upstream-actions' }), registry, dataDir: config.dataDir, streams, exporters }),
      // Republished messages go to subscribers and re-enter the rules, as in AWS IoT; the
      // republish action stops loops by a hop limit.
      publish: (p) => {
        const done = broker.publish({ topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain ?? false });
        const msg: Message = { topic: p.topic, payload: p.payload, qos: p.qos, source: { kind: 'internal', id: p.sourceRule ?? 'rule' }, receivedAt: Date.now(), hops: p.hops ?? 1 };
        const durable = ingest(msg);
        return durable === undefined ? done : Promise.all([done, durable]).then(() => undefined);
      },
    });
    const ruleSet = config.rulesFile ?? config.rules ?? DEFAULT_RULE_SET;
    await rules.loadInitial(ruleSet, config.rulesFile !== undefined);

    await exporters.start();
    cleanup.push(() => exporters.stop());

    await broker.start();
    await serial.start();
    cleanup.push(() => serial.stop());

    // Recent activity for the status page: rates, alerts seen on the broker, rule set updates.
    const activity = new Activity(registry);
    activity.start();
    cleanup.push(async () => activity.stop());
    for (const filter of config.admin.alertTopics) {
      broker.subscribe(filter, (topic, payload) => activity.record({ kind: 'alert', message: `alert on ${topic}`, topic, payload: payload.toString('utf8') }));
    }
    rules.on('status', (s: RuleUpdateStatus) =>
      activity.record({ kind: 'rules', message: `rule set ${s.version ?? '?'} ${s.state} (${s.source})${s.errors.length ? `: ${s.errors.map((e) => e.message).join('; ')}` : ''}` }),
    );

    // Control plane: remote rule updates and scheduled jobs. Local heartbeats also enter the rules,
    // so an archive rule and the MQTT bridge exporter can carry them upstream.
    const control: ControlPlane = await startControlPlane({
      logger,
      registry,
      gatewayId: config.gatewayId,
      version: opts.version,
      startedAt,
      dataDir: config.dataDir,
      control: config.control,
      jobs: config.jobs,
      rules,
      streams,
      verifier,
      local: {
        subscribe: (filter, handler) => broker.subscribe(filter, handler),
        publish: (p) => broker.publish(p),
        ingest: (p) => ingest({ topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, source: { kind: 'internal', id: 'control' }, receivedAt: Date.now() }),
      },
    });
    cleanup.push(() => control.stop());

    let admin: AdminServer | undefined;
    let stopping = false;
    const gateway: Gateway = {
      config,
      streams,
      broker,
      rules,
      serial,
      exporters,
      admin: undefined,
      activity,
      control,
      startedAt,
      stop: async () => {
        if (stopping) return;
        stopping = true;
        logger.info('stopping: closing listeners and serial links');
        await control.stop();
        await broker.stop();
        await serial.stop();
        const drained = await inflight.drain(config.shutdownTimeoutMs);
        if (!drained) logger.warn({ pending: inflight.size }, 'shutdown timeout: some commits were still pending (their publishers were not acknowledged)');
        await exporters.stop();
        await rules.stop();
        await streams.close();
        activity.stop();
        await admin?.stop();
        logger.info('stopped');
      },
    };
    if (config.admin.enabled) {
      admin = createAdminServer(config.admin, { logger: logger.child({ c: 'admin' }), registry, source: buildAdminSource(gateway, () => stopping, opts.version) });
      await admin.start();
      (gateway as { admin: AdminServer | undefined }).admin = admin;
    }
    logger.info({ mqtt: broker.addresses(), admin: admin?.address(), dataDir: config.dataDir, version: opts.version }, 'gatehouse started');
    return gateway;
  } catch (err) {
    await unwind();
    throw err;
  }
}
