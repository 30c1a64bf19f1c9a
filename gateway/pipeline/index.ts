// gateway/pipeline/: the whole data path of the gateway, in one place.
//
// INGEST (a device's data until its acknowledgement means "on disk"):
//
//   source ──► ingest.submit ──► rules engine ──► actions ──► local streams ──► ack
//   (MQTT,      (one intake:      (AWS IoT SQL:    (stream,     (group commit:   (PUBACK,
//    serial,     tracks the        FROM, WHERE,     kinesis,     one db.batch,    serial ACK,
//    control,    commit promise)   SELECT)          republish,   one fsync)       file offset)
//    republish,                                     serial...)
//    sources:)
//
// EXPORT (from disk to upstream, at least once):
//
//   local stream ──► exporter loop (read, batch, send, retry/dead-letter) ──► checkpoint ──► destination
//
// `PUBLISH_PATH` and `EXPORT_PATH` below name the functions in the order a message meets them, the
// way aedes' `publishFuncsQoS` list does: "go to definition" on each entry walks the path. The
// acknowledgement travels back up the same list as one promise (contract.ts states its rules).
import { createAedesHooks } from '../broker/hooks.js';
import { createCommitWindow } from '../broker/inflight.js';
import { Acknowledger } from '../../firmware-bridge/ack.js';
import { createRuleEngine, compileRuleSet } from '../../rules/index.js';
import { LevelLocalStreams } from '../store/local-streams.js';
import { GroupCommitter } from '../store/committer.js';
import { createExporter } from '../upstream/exporter.js';
import { destinationFrom } from '../upstream/destination-kind.js';
import { Ingest } from './ingest.js';
import { RuleHost } from './rule-host.js';
import { openRuleInputLog } from './rule-input-log.js';
import { buildActionRegistry, streamAction, republishAction, serialAction, upstreamActionFactories } from './actions/index.js';
import { ControlSource, RepublishSource, createConfiguredSources } from './sources/index.js';
import { createExporterSet } from './exporters.js';

/** The ingest half, in order. */
export const PUBLISH_PATH = [
  // 1. Sources (sources/): each hands messages to its intake and acknowledges on the promise.
  createAedesHooks, //       MQTT: authorizePublish -> deps.onPublish (BrokerSource) ...
  createCommitWindow, //     ... and QoS 1/2 PUBACK/PUBREC wait for the commit (broker/inflight.ts)
  Acknowledger, //           serial: the frame's ACK waits for the commit (SerialSource)
  ControlSource, //          heartbeats and job reports
  RepublishSource, //        rule republish re-entering the rules
  createConfiguredSources, // `sources:` kinds (sources/registry.ts)
  // 2. The one intake.
  Ingest.prototype.submit,
  // 3. The rules engine: match FROM (topic index), WHERE, SELECT, then each action.
  RuleHost.prototype.handle,
  createRuleEngine, //       engine.handle -> runActions -> action.execute
  compileRuleSet, //         actions are built from the registry below when a rule set is compiled
  openRuleInputLog, //       windows/detectors: their inputs join the same commit (replayed after a crash)
  // 4. Actions (actions/): one registry, live or inert.
  buildActionRegistry,
  streamAction, //           durable: the ack waits for the append
  upstreamActionFactories, // kinesis/firehose/http/s3/mqtt/nats: an append to a stream with an exporter
  republishAction, //        not durable
  serialAction, //           not durable
  // 5. Local streams: every append of every stream joins one group commit.
  LevelLocalStreams.prototype.append,
  GroupCommitter.prototype.submit, // -> commitOnce: one db.batch, then each append's promise resolves
] as const;

/** The export half, in order. */
export const EXPORT_PATH = [
  createExporterSet, // one loop per configured exporter, plus the ones upstream actions add
  createExporter, //    read from the checkpoint, batch, send, retry with backoff, dead-letter, checkpoint
  destinationFrom, //  kinesis, firehose, s3, http, webhook, mqtt, nats, file (each kind's module loaded on use: upstream/loaders.ts)
] as const;

export type { Intake, Source, SourceStatus } from './contract.js';
export { Ingest, sourceMetaKey, type RulesStep } from './ingest.js';
export { RuleHost, type RuleUpdateStatus, type RuleHostDeps, type PersistedRuleSet, type ApplyOptions } from './rule-host.js';
export { createExporterSet, type ExporterSet, type ExporterSetDeps } from './exporters.js';
export { buildActionRegistry, type ActionRegistryMode, type ActionEnv } from './actions/index.js';
export { upstreamStreamsOf } from './actions/upstream.js';
export { resumeRuleExporters } from './rule-exporters.js';
export { recoverRuleExporters } from './rule-exporter-recovery.js';
export { dropEmptyActionStreams, localOnlyStreams, reportStrandedStreams, undrainedRecords, type StrandedStream } from './stranded-streams.js';
export {
  BrokerSource,
  SerialSource,
  ControlSource,
  RepublishSource,
  SourceSet,
  createConfiguredSources,
  type SourceEntry,
  type SourceKind,
  type SourceDeps,
} from './sources/index.js';
