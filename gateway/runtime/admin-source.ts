// Adapts the running gateway's parts to what the admin API reads. It takes the parts (not the
// Gateway object of index.ts), so the admin server is built before that object and nothing
// imports back into index.ts.
import { isInternalStream } from '../pipeline/rule-input-log.js';
import { RULE_ACTION_DLQ, localOnlyStreams, undrainedRecords } from '../pipeline/stranded-streams.js';
import { createDeadLetterOps } from '../admin/dead-letters.js';
import { createStreamDropOps } from '../admin/stream-drop.js';
import { createStreamOperations } from '../admin/stream-operations.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AdminSource } from '../admin/server.js';
import { statusPageFiles } from '../admin/status-page.js';
import type { GatehouseConfig } from '../config/index.js';
import type { LocalStreams, LogDrop, StoreRepair } from '../store/types.js';
import type { Broker } from '../broker/index.js';
import type { SerialBridge } from '../../firmware-bridge/index.js';
import type { ExporterSet } from '../pipeline/exporters.js';
import type { RuleHost } from '../pipeline/rule-host.js';
import type { SourceSet } from '../pipeline/sources/index.js';
import type { Activity } from './activity.js';
import type { CertExpiryEntry } from '../../core/cert-expiry.js';
import { monotonicNow } from '../../core/clock.js';
import type { JobStatus, ProbationInfo } from '../control/index.js';
import { hostOverview, type HostHealth } from './host/health.js';

export interface AdminParts {
  config: GatehouseConfig;
  streams: LocalStreams;
  broker: Broker;
  rules: RuleHost;
  serial: SerialBridge;
  sources: SourceSet;
  exporters: ExporterSet;
  activity: Activity;
  startedAt: number;
  /** Monotonic ms at start (uptime; a wall clock step must not change it). */
  startedMono: number;
  /** The probation of the active rule set (control plane), for GET /api/rules. */
  probation?: { current(): ProbationInfo | undefined };
  /** The scheduled jobs (control plane), for GET /api/jobs. */
  jobs?: { status(): JobStatus[] };
  /** The installation id (upstream/installation-id.ts), once known, for GET /api/overview. */
  installationId?: () => string | undefined;
  /** The upstream certificates' expiry (upstream/cert-watch.ts): those near or past it are a warning of /healthz. */
  certs?: { all(): CertExpiryEntry[] };
  /** The certificates the broker's TLS listeners and the admin API serve (broker/tls-reload.ts), listed with the upstream ones. */
  served?: () => CertExpiryEntry[];
  /** The board's health (runtime/host/health.ts): /api/overview's host, and its warnings in /healthz. */
  host?: HostHealth;
  /** For the dead-letter routes (redrive, purge): their counters and log lines. */
  registry?: Registry;
  logger?: Logger;
  /** The local Device Shadows (gateway/shadow/), for the /api/shadows routes and the overview's count. */
  shadows?: { admin: NonNullable<AdminSource['shadows']>; count(): number };
}

export function buildAdminSource(gw: AdminParts, stopping: () => boolean, version: string): AdminSource {
  // Exporter errors and serial link state changes become events on the status page.
  gw.activity.watchExporters(() => gw.exporters.status());
  gw.activity.watchLinks(() => gw.serial.status());
  const source: AdminSource = {
    health() {
      const listening = gw.broker.addresses().length > 0;
      // A full or failing disk: acknowledgements stop, so the gateway is not healthy (503).
      const disk = gw.streams.diskState?.();
      const reasons: string[] = [];
      if (stopping()) reasons.push('the gateway is stopping');
      else if (!listening) reasons.push('the MQTT broker is not listening');
      if (disk && !disk.writable) reasons.push(`store not writable (${disk.condition}): ${disk.reason ?? 'disk full'}`);
      // A commit in flight for seconds (a stalled SD card): no acknowledgement is sent meanwhile, so
      // not healthy; a slow disk (acknowledgements late, still sent) is a warning (store/slow-disk.ts).
      const commit = gw.streams.commitHealth?.();
      if (commit?.stalled)
        reasons.push(
          `store commit in flight for ${((commit.inFlightMs ?? 0) / 1000).toFixed(1)} s: the disk has not completed a write (fsync) since, no acknowledgement is sent meanwhile`,
        );
      const slow = commit?.slow && commit.lastMinute ? commit.lastMinute : undefined;
      const ok = reasons.length === 0;
      // A damaged store repaired at start (store/repair.ts): the gateway works (not a 503), but
      // records may be lost, so it is said for as long as this process runs.
      const repair = gw.streams.repaired?.();
      const dropped = gw.streams.logDropped?.();
      const notices = [repair ? repairNotice(repair) : '', dropped ? droppedNotice(dropped) : ''].filter((n) => n !== '');
      const fix = disk && !disk.writable && disk.fix ? disk.fix : commit?.stalled ? commit.hint : undefined;
      // Certificates near or past their notAfter (upstream and served): a warning, never a 503 (a wrong clock must not fail health).
      const certs = allCertificates(gw).filter((c) => c.state === 'expiring' || c.state === 'expired');
      const warnings = [
        slow ? `store commits are slow: ${slow.meanMs} ms on average over the last minute (slowest ${slow.maxMs} ms); acknowledgements wait for them` : '',
        ...certs.map((c) => `${c.message ?? c.file}: renew it, then \`systemctl reload gatehouse\``),
        // The board: under-voltage, throttling, a worn eMMC (a warning: the gateway still works).
        ...(gw.host?.warnings() ?? []),
      ].filter((w) => w !== '');
      return {
        ok,
        status: stopping() ? 'stopping' : ok ? 'ok' : 'degraded',
        ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
        ...(warnings.length > 0 ? { warning: warnings.join('; ') } : {}),
        ...(certs.length > 0 ? { certificates: certs.map(certificateFields) } : {}),
        // What to free, where and how much: the reason alone left a monitor's reader to guess.
        ...(fix ? { fix } : slow && commit ? { fix: commit.hint } : {}),
        ...(notices.length > 0 ? { notice: notices.join('; and ') } : {}),
        ...(disk
          ? {
              store: {
                writable: disk.writable,
                condition: disk.condition,
                freeBytes: disk.freeBytes ?? null,
                reserveBytes: disk.reserveBytes,
                ...(repair ? { repaired: repairFields(repair) } : {}),
                ...(dropped ? { logDropped: { code: 'GH_STORE_CORRUPT', at: new Date(dropped.at).toISOString(), bytes: dropped.bytes } } : {}),
                ...(commit
                  ? {
                      commit: {
                        inFlightMs: commit.inFlightMs === undefined ? null : Math.round(commit.inFlightMs),
                        stalled: commit.stalled,
                        slow: commit.slow,
                        lastMinute: commit.lastMinute ?? null,
                      },
                    }
                  : {}),
              },
            }
          : {}),
        uptimeSeconds: Math.round((monotonicNow() - gw.startedMono) / 1000),
        gatewayId: gw.config.gatewayId,
      };
    },
    streams() {
      const exporters = gw.exporters.status();
      const drained = new Set(exporters.map((e) => e.stream));
      const localOnly = localOnlyStreams(gw.config.streams);
      return gw.streams.streamNames().map((name) => {
        const info = gw.streams.info(name);
        return {
          // Records not delivered that no exporter drains (docs/upstream.md, "Streams no exporter drains").
          ...(undrainedRecords(info, drained, localOnly) > 0 ? { undrained: true } : {}),
          name,
          // The gateway's own streams ('$rule-inputs': inputs of windows and detectors, replayed after a crash).
          internal: isInternalStream(name),
          firstSeq: info.firstSeq,
          lastSeq: info.lastSeq,
          records: info.records,
          bytes: info.bytes,
          oldestAt: info.oldestAt === undefined ? null : new Date(info.oldestAt).toISOString(),
          maxBytes: info.options.maxBytes,
          onFull: info.options.onFull,
          ttlMs: info.options.ttlMs ?? null,
          droppedRecords: info.droppedRecords,
          rejectedAppends: info.rejectedAppends,
          exporters: exporters.filter((e) => e.stream === name),
        };
      });
    },
    streamNames: () => gw.streams.streamNames(),
    readRecords: (stream, from, limit, maxBytes) => gw.streams.read(stream, from, maxBytes === undefined ? { limit } : { limit, maxBytes }),
    rules: () => rulesStatus(gw),
    clients: () => gw.broker.clients(),
    links: () => gw.serial.status(),
    sources: () => gw.sources.status(),
    jobs: () => gw.jobs?.status() ?? [],
    // ?probation=1 with control.probation.seconds 0: no probation runs, so the set is not put on one.
    applyRules: (body, contentType, force, probation) =>
      gw.rules.applyFromBytes(body, contentType, 'admin', { force, probation: probation && gw.config.control.probation.seconds > 0 }),
    rollbackRules: () => gw.rules.rollback('admin'),
    events: () => gw.activity.recent(),
    overview() {
      const rates = gw.activity.rates();
      const last = rates[rates.length - 1];
      return {
        gatewayId: gw.config.gatewayId,
        // What tells this gateway's records apart upstream (nats message ids, s3 keys); null until known.
        installationId: gw.installationId?.() ?? null,
        version,
        health: source.health(),
        rates,
        current: { in: last?.in ?? 0, out: last?.out ?? 0 },
        clients: gw.broker.clients(),
        links: gw.serial.status(),
        sources: gw.sources.status(),
        streams: source.streams(),
        rules: rulesStatus(gw),
        jobs: gw.jobs?.status() ?? [],
        events: gw.activity.recent(),
        // Every watched certificate, upstream and served, and its notAfter (those near or past it are also health's).
        certificates: allCertificates(gw),
        // The board: temperatures, throttling flags, pressure, eMMC wear, memory (null where none of it exists).
        host: hostOverview(gw.host),
        // the local Device Shadows kept (null: the service is switched off)
        shadows: gw.shadows ? gw.shadows.count() : null,
        // records held in dead-letter streams: 'ok' said nothing of them (gatehouse status)
        deadLetterRecords: deadLetterRecords(source),
      };
    },
    staticFiles: () => statusPageFiles(),
    ...(gw.shadows ? { shadows: gw.shadows.admin } : {}),
    ...(gw.registry && gw.logger
      ? {
          ...deadLetterAndDropOps(gw, gw.registry, gw.logger),
        }
      : {}),
  };
  return source;
}

/** The records the dead-letter streams hold now, from the streams' figures (no record read). */
function deadLetterRecords(source: AdminSource): number {
  const names = new Set(source.deadLetters?.names() ?? []);
  if (names.size === 0) return 0;
  let n = 0;
  for (const s of source.streams() as Array<{ name: string; records?: number }>) if (names.has(s.name)) n += s.records ?? 0;
  return n;
}

/** The one list: the upstream connections' and rule actions' certificates, then those the listeners and the admin API serve. */
function allCertificates(gw: AdminParts): CertExpiryEntry[] {
  return [...(gw.certs?.all() ?? []), ...(gw.served?.() ?? [])];
}

/** A certificate near or past its date, in /healthz and /api/overview (`gatehouse status` prints them). */
function certificateFields(c: CertExpiryEntry): Record<string, unknown> {
  return {
    use: c.use,
    kind: c.kind,
    connection: c.connection,
    file: c.file,
    where: c.where,
    notAfter: c.notAfter,
    state: c.state,
    message: c.message,
    fix: c.fix,
  };
}

/** The repair of /healthz's store: when, why, what was set aside, what each stream holds after it. */
function repairFields(r: StoreRepair): Record<string, unknown> {
  return {
    code: 'GH_STORE_REPAIRED',
    at: new Date(r.at).toISOString(),
    reason: r.reason,
    lostDir: r.lostDir,
    lostFiles: r.lostFiles.length,
    lostBytes: r.lostBytes,
    tablesSetAside: r.tablesSetAside,
    records: r.streams.reduce((n, s) => n + s.records, 0),
  };
}

/** One line for /healthz and `gatehouse status`. */
function repairNotice(r: StoreRepair): string {
  return (
    `the store was damaged and repaired at start (${new Date(r.at).toISOString()}, GH_STORE_REPAIRED in the log): ${r.reason}; ` +
    `${r.streams.reduce((n, s) => n + s.records, 0)} records held after it` +
    (r.tablesSetAside > 0 ? `, ${r.tablesSetAside} table file(s) it could not read whole: records they held may be lost` : '') +
    `; files set aside in ${r.lostDir} (delete it once looked at)`
  );
}

/** One line for /healthz and `gatehouse status`: LevelDB dropped part of a damaged write-ahead log at start. */
function droppedNotice(d: LogDrop & { at: number }): string {
  return `LevelDB dropped ${d.bytes} bytes of its damaged write-ahead log when the store opened (${new Date(d.at).toISOString()}, GH_STORE_CORRUPT in the log): the records in them are lost`;
}

/** The dead-letter routes and the stream drop: both know which streams something still uses. */
function deadLetterAndDropOps(gw: AdminParts, registry: Registry, logger: Logger): Pick<AdminSource, 'deadLetters' | 'streamDrop'> {
  const parts = {
    streams: gw.streams,
    exporters: gw.exporters,
    // A configured exporter's deadLetterStream; a rule action's exporter uses the default.
    deadLetterStreamOf: (e: { name: string; stream: string }) => gw.config.exporters?.find((o) => o.name === e.name)?.deadLetterStream ?? `${e.stream}-dlq`,
    configured: new Set(Object.keys(gw.config.streams)),
    isInternal: isInternalStream,
    // One redrive, purge or drop at a time per stream, across both.
    operations: createStreamOperations(),
    // A stream's check that nothing uses it and its drop as one step with respect to rule updates.
    withoutRuleUpdate: <T>(work: () => Promise<T>) => gw.rules.whileNoUpdate(work),
    registry,
    logger,
  };
  const streamDrop = createStreamDropOps({
    ...parts,
    activeRuleSet: () => gw.rules.activeDefinition(),
  });
  // A dead-letter stream emptied goes when nothing uses it: a retired rule action's, or one an
  // exporter removed from the config left (found on disk only).
  const deadLetters = createDeadLetterOps({ ...parts, retiredDeadLetters: RULE_ACTION_DLQ, unused: (name) => streamDrop.usedBy(name) === undefined });
  return { deadLetters, streamDrop };
}

/** GET /api/rules: the rule set holder's status and the probation running now (null when none). */
function rulesStatus(gw: AdminParts): Record<string, unknown> {
  return { ...gw.rules.status(), probation: gw.probation?.current() ?? null };
}
