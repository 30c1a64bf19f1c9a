// The control plane of a running gateway: the control channel (local broker or upstream MQTT),
// remote rule updates, and the scheduled jobs. startGateway() calls startControlPlane() once the
// broker listens, and stops it first on shutdown (before the rules and the store).
import type { RuntimeDeps } from '../../core/deps.js';
import type { LocalStreams } from '../store/types.js';
import type { RuleSetTarget } from './rule-set-target.js';
import { localChannel, upstreamChannel, type ControlChannel, type LocalBrokerPort } from './channel.js';
import { HeartbeatCollector } from './heartbeat.js';
import { JobScheduler, builtinJobRunner } from './jobs.js';
import { RemoteControl, controlTopics } from './remote.js';
import type { ControlOptions, JobOptions } from './options.js';
import type { UpdateVerifier } from './verify.js';

export { controlOptionsSchema, jobsOptionsSchema, jobOptionsSchema, cronProblem, type ControlOptions, type JobOptions } from './options.js';
export { createUpdateVerifier, type UpdateVerifier, type UpdateOrigin } from './verify.js';
export { RemoteControl, controlTopics, type ControlStatus, type ControlTopics } from './remote.js';
export { JobScheduler, builtinJobRunner, type JobRunEvent, type JobRunner } from './jobs.js';
export { HeartbeatCollector, type HeartbeatReport } from './heartbeat.js';
export { localChannel, upstreamChannel, type ControlChannel } from './channel.js';
export { controlTopicGuard } from './topic-guard.js';

export interface ControlPlaneDeps extends RuntimeDeps {
  gatewayId: string;
  version: string;
  startedAt: number;
  dataDir: string;
  control: ControlOptions;
  jobs: readonly JobOptions[];
  rules: RuleSetTarget;
  streams: LocalStreams;
  verifier: UpdateVerifier;
  /** The local broker (heartbeats published there also enter the rules, so exporters can carry them). */
  local: LocalBrokerPort;
}

export interface ControlPlane {
  readonly channel: ControlChannel;
  /** undefined when control.enabled is false. */
  readonly remote: RemoteControl | undefined;
  readonly jobs: JobScheduler;
  stop(): Promise<void>;
}

export async function startControlPlane(deps: ControlPlaneDeps): Promise<ControlPlane> {
  const { control, logger } = deps;
  const log = logger.child({ c: 'control' });
  const channel = control.upstream
    ? upstreamChannel(control.upstream, { logger: log, registry: deps.registry, gatewayId: deps.gatewayId })
    : localChannel(deps.local);
  const topics = controlTopics(control.prefix, deps.gatewayId);
  let remote: RemoteControl | undefined;
  if (control.enabled) {
    const local = deps.local;
    remote = new RemoteControl(control, {
      logger: log,
      registry: deps.registry,
      gatewayId: deps.gatewayId,
      rules: deps.rules,
      channel,
      verifier: deps.verifier,
      meta: deps.streams,
      ...(control.upstream || !local.onPublishRefused
        ? {}
        : { onPublishRefused: (l: Parameters<NonNullable<LocalBrokerPort['onPublishRefused']>>[0]) => local.onPublishRefused!(l) }),
    });
    await remote.start();
  } else {
    await channel.start();
  }
  const heartbeat = new HeartbeatCollector({
    gatewayId: deps.gatewayId,
    version: deps.version,
    startedAt: deps.startedAt,
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
  jobs.start();
  let stopped = false;
  return {
    channel,
    remote,
    jobs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await jobs.stop();
      if (remote) await remote.stop();
      else await channel.stop();
    },
  };
}
