// Load a configuration: file (optional) + command-line overrides -> validated config with defaults,
// plus the cross-section checks a schema alone cannot express.
import { realpathSync } from 'node:fs';
import { resolve, dirname, isAbsolute, join } from 'node:path';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { combineProblems } from '../../core/validation.js';
import { checkBrokerSecurity, isLoopback } from '../broker/options.js';
import { destinationFiles } from './checks.js';
import { listenerClashes } from './listener-clash.js';
import { mqttClientClashes } from './mqtt-client-clash.js';
import { readConfigFile, validateConfig } from './load.js';
import { withEntries, type EntrySchemas, type GatehouseConfig } from './schema.js';
import { MQTT_SOURCE_FILES } from '../pipeline/sources/mqtt/files.js';
import { httpSourceFiles } from '../pipeline/sources/http/files.js';
import { snmpSourceFiles } from '../pipeline/sources/snmp/files.js';
import { syslogSourceFiles } from '../pipeline/sources/syslog/files.js';

export { DEFAULT_RULE_SET, defaultExporters, type GatehouseConfig } from './schema.js';
export { readConfigFile, validateConfig, parseConfigText, zodProblems, formatProblems } from './load.js';

export interface ConfigOverrides {
  dataDir?: string;
  mqttPort?: number;
  adminPort?: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Apply CLI flags onto the raw (pre-validation) config object. Flags win over the file. */
function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if (o.dataDir !== undefined) out.dataDir = o.dataDir;
  if (o.adminPort !== undefined) out.admin = { ...(isRecord(out.admin) ? out.admin : {}), port: o.adminPort };
  if (o.mqttPort !== undefined) {
    const broker = isRecord(out.broker) ? { ...out.broker } : {};
    const listeners = Array.isArray(broker.listeners) && broker.listeners.length > 0 ? [...broker.listeners] : [{}];
    listeners[0] = { ...(isRecord(listeners[0]) ? listeners[0] : {}), port: o.mqttPort };
    broker.listeners = listeners;
    out.broker = broker;
  }
  return out;
}

/** Checks across sections: every problem found, each a GatehouseError naming the key and the fix. */
export function configProblems(config: GatehouseConfig): GatehouseError[] {
  const problems: GatehouseError[] = [];
  const check = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      if (err instanceof GatehouseError) problems.push(err);
      else throw err;
    }
  };
  check(() => checkBrokerSecurity(config.broker));
  problems.push(...listenerClashes(config));
  problems.push(...mqttClientClashes(config));
  if (config.admin.enabled && !isLoopback(config.admin.host) && !config.admin.token) {
    problems.push(
      ERRORS.GH_CONFIG_INSECURE(
        { what: `admin API on ${config.admin.host}`, unprotected: 'without a token' },
        {
          where: 'admin.token',
          hint: 'set admin.token to a random string of 16+ characters (e.g. `openssl rand -hex 24`), or bind admin.host to 127.0.0.1',
        },
      ),
    );
  }
  const streams = Object.keys(config.streams);
  for (const [i, e] of (config.exporters ?? []).entries()) {
    if (!config.streams[e.stream]) {
      problems.push(
        new GatehouseError('GH_CONFIG_INVALID', `exporter '${e.name}' exports stream '${e.stream}', which is not defined`, {
          where: `exporters.${i}.stream`,
          hint: `define it under streams: (known: ${streams.join(', ') || 'none'})`,
        }),
      );
    }
  }
  const names = new Set<string>();
  for (const [i, e] of (config.exporters ?? []).entries()) {
    if (names.has(e.name))
      problems.push(
        new GatehouseError('GH_CONFIG_INVALID', `exporter name '${e.name}' is used twice`, {
          where: `exporters.${i}.name`,
          hint: 'give each exporter its own name (it is its checkpoint name)',
        }),
      );
    names.add(e.name);
  }
  // Two s3 exporters writing to one bucket and prefix: key templates without ${stream} give batches
  // of the two streams the same keys (their sequence numbers both start at 1), and one overwrites
  // the other's objects: records lost while counted delivered (upstream audit).
  const s3Places = new Map<string, { i: number; name: string; perStream: boolean }>();
  for (const [i, e] of (config.exporters ?? []).entries()) {
    const d = e.destination as { type?: string; bucket?: unknown; prefix?: unknown; endpoint?: unknown; keyTemplate?: unknown };
    if (d.type !== 's3' || typeof d.bucket !== 'string') continue;
    const place = `${String(d.endpoint ?? '')}|${d.bucket}|${String(d.prefix ?? 'gatehouse/')}`;
    const perStream = typeof d.keyTemplate !== 'string' || /\{stream\}/.test(d.keyTemplate);
    const first = s3Places.get(place);
    if (first && (!first.perStream || !perStream))
      problems.push(
        new GatehouseError(
          'GH_CONFIG_INVALID',
          `exporters '${first.name}' and '${e.name}' write to s3 bucket '${d.bucket}' under one prefix with a keyTemplate without \${stream}: their batches get the same keys and overwrite each other's objects`,
          {
            where: `exporters.${i}.destination.keyTemplate`,
            hint: 'put ${stream} in each keyTemplate (as the default does), or give each exporter its own prefix',
          },
        ),
      );
    else if (!first) s3Places.set(place, { i, name: e.name, perStream });
  }
  const links = new Set<string>();
  // Serial ports by path: a serial link's, a Modbus RTU source's. One port, one reader: the second
  // would wait for the port's lock forever (the bridge refuses two links at start too).
  // One device under two paths (/dev/ttyUSB0 and its /dev/serial/by-id/... link) is one port too:
  // compared as the links resolve now (a path not there yet, as written).
  const paths = new Map<string, { who: string; path: string }>();
  const onePort = (path: string, who: string, where: string): void => {
    let port = path;
    try {
      port = realpathSync(path);
    } catch {
      // not there (unplugged): as written
    }
    const first = paths.get(port);
    if (first === undefined) paths.set(port, { who, path });
    else
      problems.push(
        new GatehouseError('GH_CONFIG_INVALID', `${first.who} and ${who} both open ${first.path === path ? path : `${port} (as ${first.path} and ${path})`}`, {
          where,
          hint: 'give each its own port (one reader per serial port; Modbus RTU devices on one bus are devices of one source)',
        }),
      );
  };
  for (const [i, l] of config.serial.entries()) {
    if (links.has(l.name))
      problems.push(
        new GatehouseError('GH_CONFIG_INVALID', `serial link name '${l.name}' is used twice`, {
          where: `serial.${i}.name`,
          hint: 'give each link its own name',
        }),
      );
    links.add(l.name);
    const path = (l as { path?: unknown }).path;
    if (typeof path === 'string') onePort(path, `serial link '${l.name}'`, `serial.${i}.path`);
  }
  for (const [i, s] of ((config.sources ?? []) as Array<{ type?: string; name?: string; rtu?: { path?: unknown } }>).entries()) {
    if (s.type === 'modbus' && typeof s.rtu?.path === 'string') onePort(s.rtu.path, `Modbus source '${s.name}'`, `sources.${i}.rtu.path`);
  }
  if (config.rules !== undefined && config.rulesFile !== undefined) {
    problems.push(new GatehouseError('GH_CONFIG_INVALID', 'both rules and rulesFile are set', { where: 'rulesFile', hint: 'keep one of them' }));
  }
  return problems;
}

/** Checks across sections; throws one GatehouseError listing every problem (configProblems). */
export function checkConfig(config: GatehouseConfig, source = 'the configuration'): void {
  const err = combineProblems(configProblems(config), source);
  if (err) throw err;
}

/**
 * The entry schemas `raw` needs: a `serial:` or `sources:` list with entries loads its kinds'
 * schemas; an absent or empty one keeps the stand-ins (nothing to validate, same output).
 */
async function entrySchemasFor(raw: Record<string, unknown>): Promise<Partial<EntrySchemas>> {
  const listed = (key: string): boolean => Array.isArray(raw[key]) && (raw[key] as unknown[]).length > 0;
  const out: Partial<EntrySchemas> = {};
  if (listed('serial')) out.serialLink = (await import('../../firmware-bridge/options.js')).SerialLinkOptionsSchema;
  if (listed('sources')) out.sources = (await import('../pipeline/sources/registry.js')).sourcesSchema() as EntrySchemas['sources'];
  return out;
}

/**
 * Read (optional) file, apply overrides, validate, check. Relative paths in the file (dataDir,
 * rulesFile, TLS files) are resolved against the file's folder, as users expect from a config file;
 * --data-dir on the command line against the working directory; a file destination's dir against
 * the data dir.
 */
export async function loadConfig(
  file: string | undefined,
  overrides: ConfigOverrides = {},
  /** false: skip the cross-section checks (check-config runs them with its other checks, to list all at once). */
  crossChecks = true,
): Promise<GatehouseConfig> {
  let raw: unknown = {};
  if (file) raw = await readConfigFile(file);
  if (!isRecord(raw)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${file} must hold a mapping of settings, found ${Array.isArray(raw) ? 'a list' : typeof raw}`, {
      where: file,
      hint: 'start from systemd/gatehouse.example.yaml',
    });
  }
  // A rule set given where the config is expected (the README's fleet-rules.yaml beside fleet.yaml):
  // 'unknown key version' would not say what to do.
  if (file && Array.isArray(raw.rules) && Object.keys(raw).every((k) => k === 'version' || k === 'rules')) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${file} holds a rule set (version, rules), not a gateway configuration`, {
      where: file,
      hint: `check it with \`gatehouse rules check ${file}\`; a configuration names it with rulesFile: (docs/examples/fleet.yaml)`,
    });
  }
  const base = file ? dirname(resolve(file)) : process.cwd();
  const withPaths: Record<string, unknown> = { ...raw };
  if (typeof withPaths.dataDir === 'string' && !isAbsolute(withPaths.dataDir)) withPaths.dataDir = resolve(base, withPaths.dataDir);
  if (typeof withPaths.rulesFile === 'string' && !isAbsolute(withPaths.rulesFile)) withPaths.rulesFile = resolve(base, withPaths.rulesFile);
  if (typeof withPaths.protoDescriptorDir === 'string' && !isAbsolute(withPaths.protoDescriptorDir)) {
    withPaths.protoDescriptorDir = resolve(base, withPaths.protoDescriptorDir);
  }
  // Lookup tables' files: the config folder's too.
  if (isRecord(withPaths.tables)) {
    const tables: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(withPaths.tables))
      tables[name] = isRecord(t) && typeof t.file === 'string' && !isAbsolute(t.file) ? { ...t, file: resolve(base, t.file) } : t;
    withPaths.tables = tables;
  }
  const schema = withEntries(await entrySchemasFor(withPaths));
  const config = validateConfig(schema, applyOverrides(withPaths, overrides), file ?? 'the default configuration');
  config.dataDir = resolve(config.dataDir);
  config.protoDescriptorDir ??= join(config.dataDir, 'proto');
  // A file destination's relative dir is the data dir's, as its default <dataDir>/export is: not the
  // config folder's (read-only under the systemd unit, ProtectSystem=strict), nor the working
  // directory's (the data dir under the unit, where `npm start` runs elsewhere).
  for (const { destination } of config.exporters ?? []) {
    const d = destination as { type?: unknown; dir?: unknown };
    if (d.type === 'file' && typeof d.dir === 'string') d.dir = resolve(config.dataDir, d.dir);
  }
  // One rule for every path in a config file: relative to the file's folder.
  for (const l of config.broker.listeners) {
    if (!l.tls) continue;
    l.tls.cert = resolve(base, l.tls.cert);
    l.tls.key = resolve(base, l.tls.key);
    if (l.tls.ca !== undefined) l.tls.ca = resolve(base, l.tls.ca);
    if (l.tls.crl !== undefined) l.tls.crl = resolve(base, l.tls.crl);
  }
  // File sources: a relative glob is relative to the config file's folder too (under systemd the
  // working directory is the data directory, so a relative pattern would silently match nothing).
  for (const src of (config.sources ?? []) as Array<{ type: string; paths?: string[] }>) {
    if (src.type === 'file' && src.paths) src.paths = src.paths.map((p) => (isAbsolute(p) ? p : resolve(base, p)));
    // OPC UA certificate login: the user certificate and key, read when the source connects.
    const auth = (src as { auth?: { type?: string; certFile?: string; keyFile?: string } }).auth;
    if (src.type === 'opcua' && auth?.type === 'certificate') {
      if (auth.certFile !== undefined) auth.certFile = resolve(base, auth.certFile);
      if (auth.keyFile !== undefined) auth.keyFile = resolve(base, auth.keyFile);
    }
    // OPC UA application certificate and trust list: a relative pkiDir is the config folder's too.
    const opcua = src as { pkiDir?: string };
    if (src.type === 'opcua' && opcua.pkiDir !== undefined) opcua.pkiDir = resolve(base, opcua.pkiDir);
    // http and syslog sources: their TLS files (reloaded on SIGHUP) and token files (read at start).
    for (const f of httpSourceFiles(src as unknown as Record<string, unknown>)) f.holder[f.key] = resolve(base, f.holder[f.key] as string);
    for (const f of syslogSourceFiles(src as unknown as Record<string, unknown>)) f.holder[f.key] = resolve(base, f.holder[f.key] as string);
    for (const f of snmpSourceFiles(src as unknown as Record<string, unknown>)) f.holder[f.key] = resolve(base, f.holder[f.key] as string);
    // MQTT and sparkplug sources: their TLS files, read at start and before each reconnect.
    if (src.type === 'mqtt' || src.type === 'sparkplug') {
      const files = src as unknown as Record<string, string | undefined>;
      for (const [k] of MQTT_SOURCE_FILES) if (files[k] !== undefined) files[k] = resolve(base, files[k]);
    }
  }
  if (config.admin.tls) {
    config.admin.tls.cert = resolve(base, config.admin.tls.cert);
    config.admin.tls.key = resolve(base, config.admin.tls.key);
  }
  // The proxy's password file: read when the destinations are built, from the data directory under systemd.
  if (config.network.proxy.passwordFile !== undefined) config.network.proxy.passwordFile = resolve(base, config.network.proxy.passwordFile);
  const up = config.control.upstream;
  if (up) for (const k of ['ca', 'cert', 'key'] as const) if (up[k] !== undefined) up[k] = resolve(base, up[k]);
  // Destinations' client files (TLS, NATS credentials): the destination reads them at start and
  // before each reconnect, from the data directory under systemd, so they too need the config's folder.
  for (const { destination } of config.exporters ?? []) {
    for (const f of destinationFiles(destination)) f.holder[f.key] = resolve(base, f.holder[f.key] as string);
  }
  // A public key is PEM text or the path of a PEM file.
  config.control.publicKeys = config.control.publicKeys.map((k) => (k.includes('-----BEGIN') ? k : resolve(base, k)));
  if (crossChecks) checkConfig(config, file ?? 'the configuration');
  return config;
}
