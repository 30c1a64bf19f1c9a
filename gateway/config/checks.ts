// Checks that need more than the schema: files the config names must exist (so `check-config`
// fails where `start` would), and warnings about configurations that are valid but would lose or
// hold data in a way users rarely intend (a stream that rules write and nothing exports fills up,
// then every publish is refused).
import { accessSync, constants } from 'node:fs';
import { GatehouseError } from '../../core/errors.js';
import { combineProblems } from '../../core/validation.js';
import type { GatehouseConfig } from './schema.js';
import { MQTT_SOURCE_FILES } from '../pipeline/sources/mqtt/files.js';
import { httpSourceFiles } from '../pipeline/sources/http/files.js';
import { snmpSourceFiles } from '../pipeline/sources/snmp/files.js';
import { syslogSourceFiles } from '../pipeline/sources/syslog/files.js';
import { sessionExpiryIgnored } from '../pipeline/sources/mqtt/options.js';
import { sharedSourceClientIdWarning } from '../pipeline/sources/mqtt/client-id.js';
import { bridgeSessionExpiryIgnored, sharedBridgeClientIdWarning } from '../upstream/destinations/mqtt-options.js';
import { selfBridgeWarning } from './self-bridge.js';
import { imageHostNameWarning } from '../control/fleet-identity.js';
import { deliveredFilter, filtersOverlap } from '../../core/topic-filter.js';
import { isLoopback } from '../broker/options.js';
import { fileAccess } from '../../core/file-access.js';

/** Paths in the config are resolved against the config file's folder (see loadConfig). */
const PATH_RULE = "relative paths are resolved against the config file's folder";

function mustRead(path: string, where: string, what: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new GatehouseError('GH_CONFIG_INVALID', `${what} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, {
      where,
      hint:
        code === 'EACCES'
          ? // who runs and who may read it: under the unit a key made by root (openssl run with sudo) is
            // root's 0600, and a check run by an operator cannot read what the gateway's user can
            `this command ${fileAccess(path).text}: the gateway's user must read it (a key: sudo chown gatehouse: ${path} && sudo chmod 600 ${path}); check as that user: sudo -u gatehouse gatehouse check-config ...`
          : `fix the path (${PATH_RULE}) or the file's permissions`,
    });
  }
}

/** A file an exporter's destination names: the object holding it, its key, its key path below the destination, what it is. */
export interface DestinationFile {
  holder: Record<string, unknown>;
  key: string;
  path: string;
  what: string;
}

/** The files a destination block names (mqtt: caFile, certFile, keyFile; http, kinesis, firehose, s3: caFile; nats: credsFile, tls.*; webhook, prometheus: their TLS files, auth's token or password file, headerFiles; postgres: passwordFile and its TLS files). */
export function destinationFiles(destination: Record<string, unknown>): DestinationFile[] {
  const out: DestinationFile[] = [];
  const add = (holder: unknown, key: string, path: string, what: string): void => {
    if (typeof holder === 'object' && holder !== null && typeof (holder as Record<string, unknown>)[key] === 'string')
      out.push({ holder: holder as Record<string, unknown>, key, path, what });
  };
  if (destination.type === 'mqtt') {
    add(destination, 'caFile', 'caFile', 'the CA bundle of the MQTT destination');
    add(destination, 'certFile', 'certFile', 'the client certificate of the MQTT destination');
    add(destination, 'keyFile', 'keyFile', 'the client key of the MQTT destination');
  } else if (destination.type === 'http') {
    add(destination, 'caFile', 'caFile', 'the CA bundle of the HTTP destination');
  } else if (destination.type === 'kinesis' || destination.type === 'firehose' || destination.type === 's3') {
    add(destination, 'caFile', 'caFile', `the CA bundle of the ${destination.type} destination`);
  } else if (destination.type === 'webhook' || destination.type === 'prometheus') {
    const kind = destination.type;
    add(destination, 'caFile', 'caFile', `the CA bundle of the ${kind} destination`);
    add(destination, 'certFile', 'certFile', `the client certificate of the ${kind} destination`);
    add(destination, 'keyFile', 'keyFile', `the client key of the ${kind} destination`);
    add(destination.auth, 'tokenFile', 'auth.tokenFile', `the token file of the ${kind} destination`);
    add(destination.auth, 'passwordFile', 'auth.passwordFile', `the password file of the ${kind} destination`);
    const files = destination.headerFiles;
    if (typeof files === 'object' && files !== null)
      for (const name of Object.keys(files)) add(files, name, `headerFiles.${name}`, `the file of the ${kind} destination's header ${name}`);
  } else if (destination.type === 'postgres') {
    add(destination, 'passwordFile', 'passwordFile', 'the password file of the postgres destination');
    add(destination, 'caFile', 'caFile', 'the CA bundle of the postgres destination');
    add(destination, 'certFile', 'certFile', 'the client certificate of the postgres destination');
    add(destination, 'keyFile', 'keyFile', 'the client key of the postgres destination');
  } else if (destination.type === 'nats') {
    add(destination, 'credsFile', 'credsFile', 'the NATS credentials file');
    add(destination.tls, 'caFile', 'tls.caFile', 'the CA bundle of the NATS destination');
    add(destination.tls, 'certFile', 'tls.certFile', 'the client certificate of the NATS destination');
    add(destination.tls, 'keyFile', 'tls.keyFile', 'the client key of the NATS destination');
  }
  return out;
}

/** Every file the configuration names that is missing or unreadable, each naming its key. */
export function configFileProblems(config: GatehouseConfig): GatehouseError[] {
  const problems: GatehouseError[] = [];
  const check = (path: string, where: string, what: string): void => {
    try {
      mustRead(path, where, what);
    } catch (err) {
      problems.push(err as GatehouseError);
    }
  };
  if (config.rulesFile !== undefined) check(config.rulesFile, 'rulesFile', 'the rule set file');
  for (const [i, l] of config.broker.listeners.entries()) {
    if (!l.tls) continue;
    check(l.tls.cert, `broker.listeners.${i}.tls.cert`, 'the TLS certificate');
    check(l.tls.key, `broker.listeners.${i}.tls.key`, 'the TLS private key');
    if (l.tls.ca !== undefined) check(l.tls.ca, `broker.listeners.${i}.tls.ca`, 'the TLS CA bundle');
    if (l.tls.crl !== undefined) check(l.tls.crl, `broker.listeners.${i}.tls.crl`, 'the TLS CRL file');
  }
  if (config.admin.tls) {
    check(config.admin.tls.cert, 'admin.tls.cert', 'the admin API TLS certificate');
    check(config.admin.tls.key, 'admin.tls.key', 'the admin API TLS private key');
  }
  const up = config.control.upstream;
  if (up?.ca !== undefined) check(up.ca, 'control.upstream.ca', 'the CA bundle of the control broker');
  if (up?.cert !== undefined) check(up.cert, 'control.upstream.cert', 'the client certificate for the control broker');
  if (up?.key !== undefined) check(up.key, 'control.upstream.key', 'the client key for the control broker');
  for (const [i, k] of config.control.publicKeys.entries()) {
    if (!k.includes('-----BEGIN')) check(k, `control.publicKeys.${i}`, 'the public key file');
  }
  for (const [i, e] of (config.exporters ?? []).entries()) {
    for (const f of destinationFiles(e.destination)) check(f.holder[f.key] as string, `exporters.${i}.destination.${f.path}`, f.what);
  }
  for (const [i, src] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    for (const f of [...httpSourceFiles(src), ...syslogSourceFiles(src), ...snmpSourceFiles(src)])
      check(f.holder[f.key] as string, `sources.${i}.${f.path}`, f.what);
    if (src.type !== 'mqtt' && src.type !== 'sparkplug') continue;
    for (const [k, what] of MQTT_SOURCE_FILES) if (typeof src[k] === 'string') check(src[k], `sources.${i}.${k}`, what);
  }
  return problems;
}

/** Every file the configuration names exists and is readable; throws naming each key otherwise. */
export function checkConfigFiles(config: GatehouseConfig, source = 'the configuration'): void {
  const err = combineProblems(configFileProblems(config), source);
  if (err) throw err;
}

export interface ConfigWarning {
  where: string;
  message: string;
  hint: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Local streams a rule set definition writes with `stream` actions (and error actions). */
export function streamsWrittenByRules(ruleSet: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const rules = isRecord(ruleSet) && Array.isArray(ruleSet.rules) ? ruleSet.rules : [];
  for (const rule of rules) {
    if (!isRecord(rule)) continue;
    const name = typeof rule.name === 'string' ? rule.name : '?';
    const actions = [...(Array.isArray(rule.actions) ? rule.actions : []), ...(rule.errorAction !== undefined ? [rule.errorAction] : [])];
    for (const a of actions) {
      if (isRecord(a) && isRecord(a.stream) && typeof a.stream.name === 'string' && !out.has(a.stream.name)) out.set(a.stream.name, name);
    }
  }
  return out;
}

/**
 * Valid but probably wrong: a stream that rules write, that no exporter drains and that is not
 * marked `localOnly`, fills up and then (onFull: reject) refuses every publish routed to it; a job
 * that toggles a rule the set does not have fails at every run.
 */
export function configWarnings(config: GatehouseConfig, ruleSet: unknown, exportedStreams: Iterable<string>): ConfigWarning[] {
  const exported = new Set(exportedStreams);
  const warnings: ConfigWarning[] = [];
  for (const [stream, rule] of streamsWrittenByRules(ruleSet)) {
    const opts = config.streams[stream];
    if (exported.has(stream) || opts?.localOnly) continue;
    const full = opts?.onFull === 'drop-oldest' ? 'then drops its oldest records' : 'then refuses every publish routed to it (no PUBACK)';
    warnings.push({
      where: `streams.${stream}`,
      message: `rule '${rule}' writes stream '${stream}', but no exporter exports it: it fills up to maxBytes and ${full}`,
      hint: `add an exporter with stream: ${stream} under exporters:, or mark the stream localOnly: true if it is only read locally`,
    });
  }
  // An enable-rule / disable-rule job naming a rule the set does not have fails at its time (at
  // 22:00, say), not at load: a remote update may add the rule later, so this is a warning.
  const names = ruleNames(ruleSet);
  for (const [i, job] of config.jobs.entries()) {
    if ((job.type !== 'enable-rule' && job.type !== 'disable-rule') || job.rule === undefined || names.includes(job.rule)) continue;
    warnings.push({
      where: `jobs.${i}.rule`,
      message: `job '${job.name}' (${job.type}) names rule '${job.rule}', which the rule set does not have: each run will fail until a rule of that name is added`,
      hint: names.length ? `use one of the rule set's rules (${names.join(', ')}) or add the rule` : 'add the rule to the rule set',
    });
  }
  // A heartbeat on a control topic: on rules/set or rules/rollback the gateway takes its own report
  // for an update (refused at every run, each refusal the status the office reads); on rules/status
  // the office's status readers get heartbeats.
  const base = `${config.control.prefix}/${config.gatewayId}/rules`;
  for (const [i, job] of config.jobs.entries()) {
    if (job.type !== 'heartbeat' || job.topic === undefined || ![`${base}/set`, `${base}/rollback`, `${base}/status`].includes(job.topic)) continue;
    warnings.push({
      where: `jobs.${i}.topic`,
      message: `heartbeat job '${job.name}' publishes on the control topic ${job.topic}: ${job.topic.endsWith('/status') ? "the office's status readers get heartbeats instead of rule statuses" : 'the gateway takes each report for a rule update and refuses it, and that refusal becomes the status the office reads'}`,
      hint: `leave topic out (the default is ${config.control.prefix}/${config.gatewayId}/heartbeat) or pick a topic outside ${base}/`,
    });
  }
  // A gatewayId that every board flashed from one image has (the host name it defaults to), with a control broker.
  const shared = imageHostNameWarning(config);
  if (shared) warnings.push(shared);
  // A bearer token sent over plain HTTP beyond loopback can be read by anyone on the path, and
  // with it the rules can be replaced (PUT /api/rules).
  if (config.admin.enabled && !isLoopback(config.admin.host) && config.admin.tls === undefined) {
    warnings.push({
      where: 'admin.tls',
      message: `the admin API listens on ${config.admin.host} over plain HTTP: its bearer token (and the data it serves) cross the network in clear, and whoever reads the token can replace the rules`,
      hint: 'set admin.tls { cert, key } (docs/broker.md#admin-api-over-https), or bind admin.host to 127.0.0.1 and reach it through an SSH tunnel',
    });
  }
  // An MQTT 5 session that ends at each disconnect: the persistent session the source's promise
  // rests on is gone (what is published while the gateway is down, and what a crash left
  // unacknowledged, is lost).
  for (const [i, src] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (src.type !== 'mqtt' || src.protocolVersion !== 5 || src.sessionExpirySec !== 0) continue;
    warnings.push({
      where: `sources.${i}.sessionExpirySec`,
      message: `MQTT source '${String(src.name)}': with sessionExpirySec 0 the broker ends the session at each disconnect: commands published while the gateway is down or restarting, and those not yet acknowledged at a crash, are lost (at most once)`,
      hint: 'leave sessionExpirySec out (7 days) or set it to the longest outage to ride out',
    });
  }
  // A session expiry that MQTT 3.1.1 cannot carry: the broker keeps the session as long as it likes.
  for (const [i, src] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    const ignored = src.type === 'mqtt' ? sessionExpiryIgnored(src) : undefined;
    if (ignored) warnings.push({ where: `sources.${i}.sessionExpirySec`, ...ignored });
    // A clientId every board flashed from one image shares: one session, its messages split between them.
    const cloned = src.type === 'mqtt' && src.enabled !== false ? sharedSourceClientIdWarning(src, config.gatewayId) : undefined;
    if (cloned) warnings.push({ where: `sources.${i}.clientId`, ...cloned });
  }
  // The same for an MQTT bridge destination (its own default is MQTT 5); and one that bridges to this gateway itself.
  for (const [i, e] of (config.exporters ?? []).entries()) {
    const d = e.destination as Record<string, unknown>;
    const ignored = d.type === 'mqtt' ? bridgeSessionExpiryIgnored(`MQTT destination of exporter '${e.name}'`, d) : undefined;
    if (ignored) warnings.push({ where: `exporters.${i}.destination.sessionExpirySec`, ...ignored });
    const self = selfBridgeWarning(`MQTT destination of exporter '${e.name}'`, d, config.broker.listeners);
    if (self) warnings.push({ where: `exporters.${i}.destination.url`, ...self });
    const cloned = d.type === 'mqtt' ? sharedBridgeClientIdWarning(`MQTT destination of exporter '${e.name}'`, config.gatewayId, d.clientId) : undefined;
    if (cloned) warnings.push({ where: `exporters.${i}.destination.clientId`, ...cloned });
  }
  // Both again for a rule's mqtt action: the same bridge destination, exported from a stream of its own.
  for (const a of mqttActionsOf(ruleSet)) {
    const subject = `MQTT action of rule '${a.rule}'`;
    const ignored = bridgeSessionExpiryIgnored(subject, a.options);
    if (ignored) warnings.push({ where: `rule ${a.rule}, ${a.at}.sessionExpirySec`, ...ignored });
    const self = selfBridgeWarning(subject, { ...a.options, type: 'mqtt' }, config.broker.listeners);
    if (self) warnings.push({ where: `rule ${a.rule}, ${a.at}.url`, ...self });
    const cloned = sharedBridgeClientIdWarning(subject, config.gatewayId, a.options.clientId);
    if (cloned) warnings.push({ where: `rule ${a.rule}, ${a.at}.clientId`, ...cloned });
  }
  // Two filters of one MQTT source that can match the same topic: a broker may send the message
  // once per matching subscription (mosquitto does for MQTT 5), and each copy goes through the rules.
  for (const [i, src] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (src.type !== 'mqtt' || !Array.isArray(src.topics)) continue;
    const filters = (src.topics as Array<{ filter?: unknown }>).map((t) => (typeof t.filter === 'string' ? t.filter : ''));
    // A shared subscription ($share/<group>/<filter>) delivers the topics of its inner filter.
    const delivered = filters.map(deliveredFilter);
    for (let b = 1; b < filters.length; b++) {
      const a = delivered.findIndex((f, k) => k < b && f !== '' && filtersOverlap(f.split('/'), delivered[b]!));
      if (a < 0 || filters[b] === '') continue;
      warnings.push({
        where: `sources.${i}.topics.${b}.filter`,
        message: `MQTT source '${String(src.name)}': filters '${filters[a]}' and '${filters[b]}' can match the same topic: a broker may send such a message once per matching subscription (mosquitto does with MQTT 5), and each copy goes through the rules`,
        hint: 'subscribe to filters that do not overlap (e.g. drop the narrower one, or split the wider one by level)',
      });
    }
  }
  return warnings;
}

/** The options of every `mqtt` action (and error action) of a rule set definition, with the rule and the action's place as the rule set's errors name it. */
function mqttActionsOf(ruleSet: unknown): Array<{ rule: string; at: string; options: Record<string, unknown> }> {
  const out: Array<{ rule: string; at: string; options: Record<string, unknown> }> = [];
  const rules = isRecord(ruleSet) && Array.isArray(ruleSet.rules) ? ruleSet.rules : [];
  for (const r of rules) {
    if (!isRecord(r)) continue;
    const rule = typeof r.name === 'string' ? r.name : '?';
    const actions: Array<[string, unknown]> = (Array.isArray(r.actions) ? r.actions : []).map((a, i) => [`actions[${i}]`, a]);
    if (r.errorAction !== undefined) actions.push(['errorAction', r.errorAction]);
    for (const [at, a] of actions) if (isRecord(a) && isRecord(a.mqtt)) out.push({ rule, at: `${at}.mqtt`, options: a.mqtt });
  }
  return out;
}

function ruleNames(ruleSet: unknown): string[] {
  const rules = isRecord(ruleSet) && Array.isArray(ruleSet.rules) ? ruleSet.rules : [];
  return rules.flatMap((r) => (isRecord(r) && typeof r.name === 'string' ? [r.name] : []));
}
