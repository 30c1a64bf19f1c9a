// The control plane of a running gateway: the control channel (local broker or upstream MQTT),
// remote rule updates, the probation of updates (automatic rollback), and the scheduled jobs. startGateway() calls startControlPlane() once the
// broker listens, and stops it first on shutdown (before the rules and the store).
import { clocksOf } from '../../core/clock.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { realTimers, type Timers } from '../../rules/index.js';
import { gauge } from '../../core/metrics.js';
import { errorMessage } from '../../core/errors.js';
import type { LocalStreams } from '../store/types.js';
import type { RuleSetTarget } from './rule-set-target.js';
import { localChannel, upstreamChannel, type ControlChannel, type LocalBrokerPort } from './channel.js';
import { HeartbeatCollector } from './heartbeat.js';
import { JobScheduler, builtinJobRunner } from './jobs.js';
import { RemoteControl, controlTopics } from './remote.js';
import { ProbationMonitor } from './probation.js';
import type { ControlOptions, JobOptions } from './options.js';
import type { UpdateVerifier } from './verify.js';
import { imageHostNameWarning } from './fleet-identity.js';
import type { ProxySettings } from '../upstream/proxy.js';

export {
  controlOptionsSchema,
  jobsOptionsSchema,
  jobOptionsSchema,
  probationOptionsSchema,
  cronProblem,
  type ControlOptions,
  type JobOptions,
  type ProbationOptions,
} from './options.js';
export { ProbationMonitor, type ProbationInfo } from './probation.js';
export { createUpdateVerifier, type UpdateVerifier, type UpdateOrigin } from './verify.js';
export { RemoteControl, controlTopics, type ControlStatus, type ControlTopics } from './remote.js';
export { JobScheduler, builtinJobRunner, type JobRunEvent, type JobRunner, type JobStatus, type JobLastRun } from './jobs.js';
export { HeartbeatCollector, type HeartbeatReport } from './heartbeat.js';
export { localChannel, upstreamChannel, type ControlChannel } from './channel.js';
export { controlTopicGuard } from './topic-guard.js';

export interface ControlPlaneDeps extends RuntimeDeps {
  gatewayId: string;
  /** The config's network.proxy and the environment (control.upstream through the site's proxy: upstream/proxy.ts). */
  network?: ProxySettings | undefined;
  version: string;
  startedAt: number;
  /** Monotonic ms of the start (the heartbeat's uptime; core/clock.ts). */
  startedMono?: number;
  dataDir: string;
  /** The installation id once known (upstream/installation-id.ts): heartbeats and the status document carry it. */
  installationId?: () => string | undefined;
  /** Reads (or makes) the installation id: control.upstream.clientId's ${installationId} waits for it. Absent: the one kept in dataDir. */
  loadInstallationId?: () => Promise<string>;
  control: ControlOptions;
  jobs: readonly JobOptions[];
  rules: RuleSetTarget;
  streams: LocalStreams;
  verifier: UpdateVerifier;
  /** The local broker (heartbeats published there also enter the rules, so exporters can carry them). */
  local: LocalBrokerPort;
  /** Clock and timers of the probation (default: the real ones over deps.now). */
  timers?: Timers;
}

export interface ControlPlane {
  readonly channel: ControlChannel;
  /** undefined when control.enabled is false. */
  readonly remote: RemoteControl | undefined;
  /** Watches updates applied on probation (remote ones, PUT /api/rules?probation=1). */
  readonly probation: ProbationMonitor;
  readonly jobs: JobScheduler;
  /** The signature policy of rule set updates (control.publicKeys ...), taken again at a reload. */
  readonly verifier: UpdateVerifier;
  stop(): Promise<void>;
}

type PublishRefusalListener = Parameters<NonNullable<LocalBrokerPort['onPublishRefused']>>[0];

export async function startControlPlane(deps: ControlPlaneDeps): Promise<ControlPlane> {
  const { control, logger } = deps;
  const log = logger.child({ c: 'control' });
  // Gateways flashed from one SD card image answer to one gatewayId on the control broker: said at each start.
  const shared = imageHostNameWarning({ gatewayId: deps.gatewayId, control });
  if (shared) log.warn({ where: shared.where, fix: shared.hint }, shared.message);
  const channel = control.upstream
    ? upstreamChannel(control.upstream, {
        logger: log,
        registry: deps.registry,
        gatewayId: deps.gatewayId,
        maxPayloadBytes: control.maxPayloadBytes,
        // control.upstream.clientId's ${installationId}
        installationId: deps.loadInstallationId,
        dataDir: deps.dataDir,
        // control.upstream's way to its broker: direct or through the site's proxy.
        ...(deps.network === undefined ? {} : { network: deps.network }),
      })
    : localChannel(deps.local);
  const topics = controlTopics(control.prefix, deps.gatewayId);
  // Filled at scrape time: an unreachable control broker (down, wrong password, or refusing the
  // subscription to the control topics) is otherwise only in the log, and updates from the office
  // silently do not arrive.
  const channelUp = 'gatehouse_control_channel_connected';
  const help = 'Whether the control channel is connected and subscribed to the control topics (1) or not (0); the local broker is always 1';
  gauge(deps.registry, channelUp, help, ['channel'], {
    collect() {
      this.reset();
      this.set({ channel: channel.kind }, channel.connected() && channel.refusedTopics().length === 0 ? 1 : 0);
    },
  });
  // Started before the remote control: its status listener runs first, so a status document
  // published for an update already shows the probation that update started.
  const probation = new ProbationMonitor(control.probation, {
    logger: log,
    registry: deps.registry,
    rules: deps.rules,
    meta: deps.streams,
    // Injected timers (tests) drive both clocks; else the deadline is on the monotonic clock.
    ...(deps.timers ? { timers: deps.timers } : { timers: realTimers(deps.now), monotonic: clocksOf(deps).monotonic }),
  });
  let remote: RemoteControl | undefined;
  if (control.enabled) {
    const local = deps.local;
    remote = new RemoteControl(control, {
      logger: log,
      registry: deps.registry,
      gatewayId: deps.gatewayId,
      ...(deps.installationId ? { installationId: deps.installationId } : {}),
      rules: deps.rules,
      channel,
      verifier: deps.verifier,
      meta: deps.streams,
      probation,
      ...(control.upstream
        ? {
            onPublishRefused: (l: PublishRefusalListener) => {
              channel.onRefused?.(l);
              return () => undefined;
            },
          }
        : local.onPublishRefused
          ? { onPublishRefused: (l: PublishRefusalListener) => local.onPublishRefused!(l) }
          : {}),
    });
  }
  const heartbeat = new HeartbeatCollector({
    gatewayId: deps.gatewayId,
    ...(deps.installationId ? { installationId: deps.installationId } : {}),
    version: deps.version,
    startedAt: deps.startedAt,
    ...(deps.startedMono !== undefined ? { startedMono: deps.startedMono } : {}),
    monotonic: clocksOf(deps).monotonic,
    dataDir: deps.dataDir,
    registry: deps.registry,
    streams: deps.streams,
    activeRuleSetVersion: () => deps.rules.activeDefinition()?.version ?? null,
  });
  const jobs = new JobScheduler(deps.jobs, {
    logger: logger.child({ c: 'jobs' }),
    registry: deps.registry,
    run: builtinJobRunner({ streams: deps.streams, rules: deps.rules, channel, heartbeat, heartbeatTopic: topics.heartbeat }),
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await jobs.stop();
    // Remote first: an update it is still applying is put on probation (and recorded) before the monitor stops.
    if (remote) await remote.stop();
    else await channel.stop();
    await probation.stop();
    deps.registry.removeSingleMetric(channelUp);
  };
  try {
    await probation.start();
    if (remote) await remote.start();
    else await channel.start();
    jobs.start();
  } catch (err) {
    // A start failing partway is undone by the stop (each part's stop undoes a start that failed
    // partway, or does nothing when it never started): the remote control's start could throw (an
    // upstream channel refusing control.upstream.ca, which only its start reads) with its listener
    // on the rules' status in place, and the probation monitor's too.
    await stop().catch((e: unknown) => log.error({ err: errorMessage(e) }, 'control plane: clean-up after a failed start'));
    throw err;
  }
  return { channel, remote, probation, jobs, verifier: deps.verifier, stop };
}
