// `gatehouse check-config FILE`: validate a configuration and its rule set without starting.
import { protoDescriptorDirOf, protoDescriptorFolder } from '../pipeline/proto-descriptors.js';
import { configProblems, loadConfig, DEFAULT_RULE_SET, defaultExporters } from '../config/index.js';
import { combineProblems } from '../../core/validation.js';
import { configFileProblems, configWarnings } from '../config/checks.js';
import { NO_LOOKUP_TABLES, NO_SHADOWS, compileRuleSet, loadRuleSetFile, validateRuleSet } from '../../rules/index.js';
import { buildActionRegistry } from '../pipeline/actions/index.js';
import { allDestinationKinds } from '../upstream/registry.js';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import pino from 'pino';
import { Registry } from '../../core/prom-client.js';
import { createDestination } from '../upstream/index.js';
import { describeRoute, mqttRouteFor } from '../upstream/proxy.js';
import { routeLines, type ServerRoute } from '../upstream/destinations/nats-routes.js';
import { sourceKind } from '../pipeline/sources/registry.js';
import { loadPublicKeys } from '../control/signing.js';
import { resolvePemList } from '../control/verify.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { readClientTlsFiles, tlsPairProblem, type ClientTlsContext, type TlsFilePaths } from '../../core/tls-files.js';
import { sourceTlsContext } from '../pipeline/sources/mqtt/files.js';
import { listenerName } from '../broker/options.js';
import { DATA_DIR_HELP, DATA_DIR_OPTION, dataDirOverride, dataDirOverrideWarning, dataDirSummary } from './data-dir.js';
import { ramDataDirWarning } from './data-dir-ram.js';
import { certificateLines } from './cert-lines.js';
import { loadCrls } from '../broker/crl-load.js';
import { mutualTlsLines } from './mtls-lines.js';

const USAGE = 'gatehouse check-config FILE|--config FILE [--data-dir DIR]';

export async function runCheckConfig(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(
    argv,
    { ...DATA_DIR_OPTION, config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    USAGE,
    true,
  );
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nValidates the file (every problem listed with its key path), the security rules, and the rule set (SQL, actions, streams). Warnings (valid but probably unintended, e.g. a stream that rules write and nothing exports) go to stderr. Exit 0 when valid, 1 otherwise.\nThe data directory is checked as start would use it (a file in its place is a problem) and named with whether it holds a store: give the --data-dir start is given (the systemd unit's: check-config FILE --data-dir /var/lib/gatehouse).\n${DATA_DIR_HELP}`,
    );
    return 0;
  }
  // `--config FILE` as `start` and the other commands take it (round 38's trial typed it so), or FILE
  const files = [...(typeof values.config === 'string' ? [values.config] : []), ...positionals];
  const file = files[0];
  if (!file || files.length > 1) throw new GatehouseError('GH_ARG_INVALID', 'expected exactly one FILE (or --config FILE)', { hint: `usage: ${USAGE}` });
  const config = await loadConfig(file, dataDirOverride(values['data-dir']), false);
  // Every check past the schema runs, and all their problems are listed at once.
  const problems: GatehouseError[] = [...configProblems(config), ...configFileProblems(config)];
  const collect = async <T>(fn: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      problems.push(err);
      return undefined;
    }
  };
  // (A rules file already found missing or unreadable is not read again.)
  const def: unknown = problems.some((p) => p.where === 'rulesFile')
    ? undefined
    : await collect(async () => (config.rulesFile ? await loadRuleSetFile(config.rulesFile) : (config.rules ?? DEFAULT_RULE_SET)));
  // Lookup tables: each file read as the start reads it (a missing file, a bad row, a duplicate key: file and line).
  if (Object.keys(config.tables).length) {
    const { loadTable } = await import('../tables/index.js');
    for (const [name, t] of Object.entries(config.tables)) await collect(() => loadTable(name, t));
  }
  const registry = buildActionRegistry({
    mode: 'inert',
    destinations: allDestinationKinds,
    streamNames: Object.keys(config.streams),
    linkNames: config.serial.map((l) => l.name),
  });
  const compiled =
    def === undefined
      ? undefined
      : await collect(async () => {
          const c = compileRuleSet(def, registry, {
            source: config.rulesFile ?? `${file} (rules)`,
            protoDescriptors: protoDescriptorFolder(protoDescriptorDirOf(config)),
            // get_thing_shadow() compiles as it does at start: with the local shadows on
            ...(config.shadows.enabled ? { shadows: NO_SHADOWS } : {}),
            // the tables' names and keys (a file that does not load is listed above, not again per rule)
            lookupTables: Object.keys(config.tables).length ? (await import('../tables/index.js')).configuredTables(config.tables) : NO_LOOKUP_TABLES,
          });
          await validateRuleSet(c, config.rulesFile ?? `${file} (rules)`);
          return c;
        });
  // Build (not start) every configured destination: each validates its own options.
  const quiet = { logger: pino({ level: 'silent' }), registry: new Registry(), dataDir: config.dataDir, network: { proxy: config.network.proxy } };
  const routes: string[] = [];
  for (const [i, e] of (config.exporters ?? []).entries()) {
    const d = await collect(() => createDestination(e.destination, { ...quiet, where: `exporters.${i}.destination` }));
    // How each exporter reaches its endpoint: the proxy (never its password), or direct and why; a
    // NATS destination whose servers go different ways, per server.
    const perServer = d && 'serverRoutes' in d ? routeLines(d.serverRoutes as readonly ServerRoute[]) : undefined;
    if (perServer) for (const line of perServer) routes.push(`exporter '${e.name}' (${d!.kind}) goes ${line}`);
    else if (d?.route) routes.push(`exporter '${e.name}' (${d.kind}) goes ${describeRoute(d.route)}`);
  }
  // The MQTT sources and the control channel: their way to their brokers, as the exporters'.
  const ownProxy = (v: unknown): false | string | undefined => (v === false || typeof v === 'string' ? v : undefined);
  for (const [i, src] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (src.type !== 'mqtt' || src.enabled === false || typeof src.url !== 'string' || !URL.canParse(src.url)) continue;
    const url = src.url;
    const r = await collect(() => mqttRouteFor(url, ownProxy(src.proxy), quiet.network, `sources.${i}.proxy`));
    if (r) routes.push(`MQTT source '${String(src.name)}' goes ${describeRoute(r)}`);
  }
  const controlUp = config.control.upstream;
  if (controlUp) {
    const r = await collect(() => mqttRouteFor(controlUp.url, controlUp.proxy, quiet.network, 'control.upstream.proxy'));
    if (r) routes.push(`the control channel goes ${describeRoute(r)}`);
  }
  // TLS listeners and the admin API: the files must also make a TLS context (a cert and key of the
  // same pair), as at start.
  const tlsBlocks: Array<{
    where: string;
    listener: string;
    code: 'GH_BROKER_TLS' | 'GH_ADMIN_TLS' | 'GH_HTTP_SOURCE_TLS' | 'GH_SYSLOG_SOURCE_TLS';
    files: { cert: string; key: string; ca?: string | undefined; crl?: string | undefined };
  }> = [
    ...config.broker.listeners.flatMap((l, i) =>
      l.tls ? [{ where: `broker.listeners.${i}.tls`, listener: listenerName(config.broker.listeners, i), code: 'GH_BROKER_TLS' as const, files: l.tls }] : [],
    ),
    ...(config.admin.tls ? [{ where: 'admin.tls', listener: 'admin', code: 'GH_ADMIN_TLS' as const, files: config.admin.tls }] : []),
    // http sources serving HTTPS and syslog sources serving TLS (http sources' token files are read at start: checked by configFileProblems)
    ...((config.sources ?? []) as Array<{ type: string; name: string; enabled?: boolean; tls?: { cert: string; key: string } }>).flatMap((s, i) =>
      (s.type === 'http' || s.type === 'syslog') && s.enabled !== false && s.tls
        ? [
            {
              where: `sources.${i}.tls`,
              listener: s.name,
              code: s.type === 'http' ? ('GH_HTTP_SOURCE_TLS' as const) : ('GH_SYSLOG_SOURCE_TLS' as const),
              files: s.tls,
            },
          ]
        : [],
    ),
    // syslog sources' relp listeners serving TLS
    ...(
      (config.sources ?? []) as Array<{ type: string; name: string; enabled?: boolean; relp?: { tls?: { cert: string; key: string; ca?: string } } }>
    ).flatMap((s, i) =>
      s.type === 'syslog' && s.enabled !== false && s.relp?.tls
        ? [{ where: `sources.${i}.relp.tls`, listener: `${s.name}/relp`, code: 'GH_SYSLOG_SOURCE_TLS' as const, files: s.relp.tls }]
        : [],
    ),
  ];
  for (const { where, listener, code, files } of tlsBlocks) {
    if (problems.some((p) => p.where?.startsWith(where))) continue;
    await collect(() => {
      const cert = readFileSync(files.cert);
      const key = readFileSync(files.key);
      const ca = files.ca ? readFileSync(files.ca) : undefined;
      try {
        createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
      } catch (err) {
        // the wording of the start (broker listeners, admin API), from the catalogue (docs/errors.md)
        throw ERRORS[code]({ listener, reason: tlsPairProblem(cert, key, err) }, { where, hint: 'cert and key must be PEM files of the same key pair' });
      }
      // a CRL that does not parse, or is of none of the listener's CAs, fails the start too
      if (files.crl) loadCrls({ crl: readFileSync(files.crl), ...(ca ? { ca } : {}) }, listener, where);
    });
  }
  // TLS clients (MQTT sources, MQTT bridge destinations, the control broker): the files must load
  // as the client will load them (a CA certificate, one key pair), as at start.
  const clientTls: Array<{ at: string; paths: TlsFilePaths; ctx: ClientTlsContext }> = [];
  for (const [i, s] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (s.type === 'mqtt' && s.enabled !== false) {
      const at = `sources.${i}`;
      clientTls.push({
        at,
        paths: { ca: s.caFile as string, cert: s.certFile as string, key: s.keyFile as string },
        ctx: sourceTlsContext(String(s.name), at),
      });
    }
  }
  for (const [i, e] of (config.exporters ?? []).entries()) {
    const d = e.destination as Record<string, unknown>;
    const at = `exporters.${i}.destination`;
    if (d.type === 'http' && typeof d.caFile === 'string') {
      const where = { ca: `${at}.caFile`, cert: `${at}.certFile`, key: `${at}.keyFile` };
      clientTls.push({ at, paths: { ca: d.caFile }, ctx: { where, subject: `HTTP destination of exporter '${e.name}'`, code: 'GH_DESTINATION_CONFIG' } });
    }
    if (d.type !== 'mqtt') continue;
    const where = { ca: `${at}.caFile`, cert: `${at}.certFile`, key: `${at}.keyFile` };
    clientTls.push({
      at,
      paths: { ca: d.caFile as string, cert: d.certFile as string, key: d.keyFile as string },
      ctx: { where, subject: `MQTT destination of exporter '${e.name}'`, code: 'GH_DESTINATION_CONFIG' },
    });
  }
  const up = config.control.upstream;
  if (up) {
    const where = { ca: 'control.upstream.ca', cert: 'control.upstream.cert', key: 'control.upstream.key' };
    clientTls.push({
      at: 'control.upstream',
      paths: { ca: up.ca, cert: up.cert, key: up.key },
      ctx: { where, subject: 'control broker', code: 'GH_CONFIG_INVALID' },
    });
  }
  // (Files already listed missing are not read again.)
  for (const { at, paths, ctx } of clientTls) if (!problems.some((p) => p.where?.startsWith(`${at}.`))) await collect(() => readClientTlsFiles(paths, ctx));
  // Public keys that may sign updates: each must be an ed25519 key (a missing file is listed above).
  if (!problems.some((p) => p.where?.startsWith('control.publicKeys'))) await collect(() => loadPublicKeys(resolvePemList(config.control.publicKeys)));
  // Sources: a kind may check its optional libraries (OPC UA) without loading them.
  const sources = (config.sources ?? []) as Array<{ type: string; enabled: boolean }>;
  for (const s of sources) if (s.enabled) await collect(() => sourceKind(s.type)?.preflight?.(s));
  // The data directory as start would use it: a file in its way is start's exit 78.
  const dataDir = await collect(() => dataDirSummary(config.dataDir));
  const failed = combineProblems(problems, file);
  if (failed || compiled === undefined) throw failed;
  const exporters = config.exporters?.length ?? (config.streams.archive ? 1 : 0);
  const exported = (config.exporters ?? (config.streams.archive ? defaultExporters() : [])).map((e) => e.stream);
  for (const w of configWarnings(config, def, exported)) writeLine(io.stderr, `${file}: warning: ${w.message} (at ${w.where}). Fix: ${w.hint}`);
  const overridden = values['data-dir'] !== undefined ? await dataDirOverrideWarning(file, config.dataDir) : undefined;
  if (overridden) writeLine(io.stderr, `${file}: warning: ${overridden.message}`);
  const inRam = ramDataDirWarning(config.dataDir);
  if (inRam) writeLine(io.stderr, `${file}: warning: ${inRam}`);
  writeLine(
    io.stdout,
    `${file}: OK: ${config.broker.listeners.length} listener(s), ${Object.keys(config.streams).length} stream(s), ${compiled.rules.length} rule(s) (version ${compiled.version}), ${exporters} exporter(s), ${config.serial.length} serial link(s), ${sources.length} source(s); ${dataDir}`,
  );
  // Where each file exporter writes (a relative dir is the data dir's: loadConfig resolved it).
  for (const e of config.exporters ?? (config.streams.archive ? defaultExporters() : [])) {
    const d = e.destination as { type?: unknown; dir?: unknown };
    if (d.type === 'file')
      writeLine(io.stdout, `${file}: exporter '${e.name}' writes its files under ${typeof d.dir === 'string' ? d.dir : join(config.dataDir, 'export')}`);
  }
  for (const r of routes) writeLine(io.stdout, `${file}: ${r}`);
  // Each certificate's notAfter; one near or past it a warning (never a problem: a wrong clock must not fail the check).
  const certs = certificateLines(config, compiled.definition);
  for (const w of certs.warnings) writeLine(io.stderr, `${file}: warning: ${w}`);
  for (const l of certs.info) writeLine(io.stdout, `${file}: ${l}`);
  // Mutual-TLS listeners: who their clients are, their CRLs and when those need renewing.
  const mtls = mutualTlsLines(config);
  for (const w of mtls.warnings) writeLine(io.stderr, `${file}: warning: ${w}`);
  for (const l of mtls.info) writeLine(io.stdout, `${file}: ${l}`);
  return 0;
}
