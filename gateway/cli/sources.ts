// `gatehouse sources`: the configured sources of the running gateway (GET /api/sources): one line a
// source with its state and the summary the status page's Sources section shows, and its error
// under it while it is not healthy.
//
// The status page (gateway/admin/page/sources.js) words the same summaries, and this file does it
// a second time on purpose: the page is browser JS served as it is, with no build step, so compiled
// CLI code cannot import it (no types, and it is not under dist/: it would be loaded at run time
// from a path found on disk); and it builds DOM nodes with local, locale-formatted times where a
// shell wants ISO times like `gatehouse jobs`. Keep the two in step when a kind's details change.
import type { SourceStatus } from '../pipeline/contract.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminGet, resolveAdmin } from './admin-client.js';

const USAGE = 'gatehouse sources [--admin URL | --config FILE] [--token T] [--json]';

/** Where to configure sources, named when there are none. */
const NONE =
  'no sources configured (sources: in the config: docs/file-sources.md, docs/industrial.md, docs/mqtt-source.md, docs/http-source.md, docs/syslog-source.md, docs/snmp-source.md, docs/sparkplug.md)';

export async function runSources(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(argv, ADMIN_COMMAND_OPTIONS, USAGE);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nShows each configured source (sources: in the config: file, modbus, opcua, mqtt, http, syslog, snmp, sparkplug): its name, kind, state and a summary (as on the status page), and its last error while it is not healthy; a built-in source (the serial links, the embedded broker) only while it is not running. --json prints the API body (every built-in source included).\n${ADMIN_FLAGS_HELP}\n${JSON_FLAG_HELP}`,
    );
    return 0;
  }
  const target = await resolveAdmin(values.admin, values.config, values.token);
  const body = (await adminGet(target, '/api/sources', 'sources')) as unknown as { sources: SourceStatus[] };
  if (values.json) {
    writeLine(io.stdout, JSON.stringify(body, null, 2));
    return 0;
  }
  const shown = shownSources(body.sources);
  if (shown.length === 0) writeLine(io.stdout, NONE);
  for (const s of shown) writeLine(io.stdout, describeSource(s).join('\n'));
  return 0;
}

/**
 * The sources the command lists: the configured ones (`sources:`), and a source every gateway has
 * (the embedded broker, serial links, control, republish) only while it is not running: a serial
 * link that does not open made the command say 'no sources configured', its error only in --json.
 */
export function shownSources(sources: SourceStatus[]): SourceStatus[] {
  return [...sources.filter((s) => s.builtIn !== true), ...sources.filter((s) => s.builtIn === true && s.state !== 'running')];
}

// The details of each kind as the API gives them (the sources' status() methods); free-form JSON,
// so every field is read as possibly missing.
interface ModbusDevice {
  name?: string;
  state?: string;
  lastGoodRead?: string | null;
  valuesPerSecond?: number;
  lastError?: string | null;
  lastErrorAt?: string | null;
  tagErrors?: Record<string, string>;
}
interface ModbusDetails {
  endpoint?: string;
  devices?: ModbusDevice[];
  reconnects?: number;
  gaps?: number;
}
interface OpcuaDetails {
  endpoint?: string;
  securityMode?: string;
  items?: number;
  tagErrors?: Record<string, string>;
  values?: number;
  valuesPerSecond?: number;
  lastGoodRead?: string | null;
  gaps?: number;
}
interface MqttDetails {
  url?: string;
  clientId?: string;
  subscriptions?: Array<{ filter: string; qos: number | null }>;
  received?: number;
  acknowledged?: number;
  refused?: number;
  dropped?: number;
  lastMessageAt?: string | null;
  downSince?: string | null;
}
interface SerialDetails {
  links?: Array<{ name?: string; path?: string; state?: string; paused?: boolean; lastError?: string | null; lastErrorAt?: number | null }>;
}
interface FileDetails {
  files?: Array<{ path: string; state?: string; lagBytes?: number; lastError?: string }>;
  unreadable?: Array<{ path: string; error: string }>;
  vanished?: unknown[];
  lastError?: string;
}

const HEALTHY_STATES = new Set(['running', 'connected']);

/** The source's line, then its error lines while it is not healthy (and those of failing Modbus devices). */
export function describeSource(s: SourceStatus): string[] {
  const d = s.details ?? {};
  const lines = [`${s.name} (${s.kind}) ${s.state}: ${summary(s.kind, d, s.state).join('; ')}`];
  // A file source's error is in its summary; a subscription the broker refused makes a connected MQTT source unhealthy.
  const refused = s.kind === 'mqtt' && s.state === 'connected' && ((d as MqttDetails).subscriptions ?? []).some((x) => x.qos === null);
  // Messages it dropped (not taken: unmatched, too large, an invalid topic) say why in the last
  // error, which a connected source's line left out: only the count showed.
  const dropped = s.kind === 'mqtt' && ((d as MqttDetails).dropped ?? 0) > 0 && /was dropped/.test(lastErrorOf(d) ?? '');
  const err = lastErrorOf(d);
  if (s.kind !== 'file' && err && (!HEALTHY_STATES.has(s.state) || refused || dropped)) lines.push(`  ${err}`);
  // Each serial link that is not open, with why (the device unplugged, no permission on the port).
  for (const link of s.kind === 'serial' ? ((d as SerialDetails).links ?? []) : []) {
    if (link.state === 'open' || !link.lastError) continue;
    const at = typeof link.lastErrorAt === 'number' ? ` at ${new Date(link.lastErrorAt).toISOString()}` : '';
    lines.push(`  ${link.name ?? '?'} (${link.path ?? '?'}) ${link.state ?? '?'}: last error${at}: ${link.lastError}`);
  }
  // A Modbus device that stops answering while the link is up (a wrong unit id, a PLC in stop).
  // One that answers but refuses tags (an exception response: an address it does not have) is
  // not failing, and its tags were in --json only: the running source read nothing of them.
  for (const dev of s.kind === 'modbus' ? ((d as ModbusDetails).devices ?? []) : []) {
    const devErr = lastErrorOf(dev as Record<string, unknown>);
    if (dev.state === 'failing' && devErr) lines.push(`  ${dev.name ?? '?'}: ${devErr}`);
    else lines.push(...tagErrorLines(dev));
  }
  // An SNMP target that does not answer (or refuses the gateway's user), with why.
  for (const target of s.kind === 'snmp' ? ((d as SnmpDetails).targets ?? []) : []) {
    const targetErr = lastErrorOf(target as Record<string, unknown>);
    if (target.state === 'failing' && targetErr) lines.push(`  ${target.name ?? '?'}: ${targetErr}`);
  }
  return lines;
}

/** Tag errors shown per device; the rest counted (all of them: --json, the API's tagErrors). */
const TAG_ERRORS_SHOWN = 5;

function tagErrorLines(dev: ModbusDevice): string[] {
  const errors = Object.entries(dev.tagErrors ?? {});
  const lines = errors.slice(0, TAG_ERRORS_SHOWN).map(([tag, err]) => `  ${dev.name ?? '?'} tag ${tag}: ${err}`);
  if (errors.length > TAG_ERRORS_SHOWN) lines.push(`  ${dev.name ?? '?'}: ${errors.length - TAG_ERRORS_SHOWN} more tags with errors (--json lists them)`);
  return lines;
}

function summary(kind: string, d: Record<string, unknown>, state: string): string[] {
  switch (kind) {
    case 'modbus':
      return modbusSummary(d as ModbusDetails);
    case 'opcua':
      return opcuaSummary(d as OpcuaDetails);
    case 'mqtt':
      return mqttSummary(d as MqttDetails, state);
    case 'file':
      return fileSummary(d as FileDetails);
    case 'serial':
      return serialSummary(d as SerialDetails);
    case 'http':
      return httpSummary(d as HttpDetails);
    case 'syslog':
      return syslogSummary(d as SyslogDetails);
    case 'snmp':
      return snmpSummary(d as SnmpDetails);
    case 'sparkplug':
      return sparkplugSummary(d as SparkplugDetails, state);
    default:
      return genericSummary(d);
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A rate as the status page shows it: 2 decimals under 10, 1 under 100, none above; no trailing zeros. */
function rate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n >= 100) return String(Math.round(n));
  return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

function lastGood(at: string | null | undefined): string {
  return at ? `last good read ${at}` : 'no good read yet';
}

/** The parts that are there (a detail the gateway did not send, or a zero count not worth a word, is left out). */
function present(...items: Array<string | null | undefined | false>): string[] {
  return items.filter((x): x is string => typeof x === 'string' && x !== '');
}

function modbusSummary(d: ModbusDetails): string[] {
  const devices = d.devices ?? [];
  const failing = devices.filter((x) => x.state === 'failing').length;
  const tagErrors = devices.reduce((n, x) => n + (x.state === 'failing' ? 0 : Object.keys(x.tagErrors ?? {}).length), 0);
  const reads = devices.map((x) => x.lastGoodRead).filter((x): x is string => typeof x === 'string');
  return present(
    d.endpoint,
    `${plural(devices.length, 'device')}${failing ? ` (${failing} failing)` : ''}`,
    tagErrors ? `${plural(tagErrors, 'tag')} with errors` : null,
    `${rate(devices.reduce((sum, x) => sum + (x.valuesPerSecond ?? 0), 0))} values/s`,
    lastGood(reads.sort().at(-1)),
    d.reconnects ? plural(d.reconnects, 'reconnect') : null,
    d.gaps ? plural(d.gaps, 'gap') : null,
  );
}

function opcuaSummary(d: OpcuaDetails): string[] {
  const tagErrors = Object.keys(d.tagErrors ?? {}).length;
  return present(
    d.endpoint,
    d.securityMode && d.securityMode !== 'None' ? d.securityMode : null,
    `${plural(d.items ?? 0, 'tag')}${tagErrors ? ` (${tagErrors} with errors)` : ''}`,
    `${d.values ?? 0} values read`,
    `${rate(d.valuesPerSecond)} values/s`,
    lastGood(d.lastGoodRead),
    d.gaps ? plural(d.gaps, 'gap') : null,
  );
}

function mqttSummary(d: MqttDetails, state: string): string[] {
  // Connected: the QoS the broker granted, null for a refused subscription. Otherwise there is no
  // subscription right now (the grants listed would be those of an earlier connection).
  const grant = (s: { qos: number | null }): string => (state !== 'connected' ? 'not subscribed' : s.qos === null ? 'refused' : `QoS ${s.qos}`);
  const subs = (d.subscriptions ?? []).map((s) => `${s.filter} (${grant(s)})`);
  return present(
    d.url,
    state !== 'connected' && d.downSince ? `no connection since ${d.downSince}` : null,
    `client ${d.clientId ?? '–'}`,
    subs.length ? subs.join(', ') : 'no subscriptions',
    `${d.received ?? 0} received, ${d.acknowledged ?? 0} acknowledged, ${d.refused ?? 0} refused, ${d.dropped ?? 0} dropped`,
    d.lastMessageAt ? `last message ${d.lastMessageAt}` : 'no message yet',
  );
}

function fileSummary(d: FileDetails): string[] {
  const files = d.files ?? [];
  const open = files.filter((f) => f.state === 'open' || f.state === 'draining').length;
  const waiting = files.filter((f) => f.state === 'waiting').length;
  const states = present(open ? `${open} open` : null, waiting ? `${waiting} waiting` : null).join(', ');
  const unreadable = d.unreadable ?? [];
  // The source's own error (a scan that failed), else the first file's (a read or a refused commit), else an unreadable file.
  const fileErr = files.find((f) => f.lastError);
  const error =
    d.lastError ?? (fileErr ? `${fileErr.path}: ${fileErr.lastError}` : unreadable[0] ? `${unreadable[0].path}: ${unreadable[0].error}` : undefined);
  // Nothing matched: a folder that does not exist is no error (it is picked up when it appears),
  // so a typo in paths showed as a healthy source with 0 files and no word of why.
  const none =
    files.length === 0 && unreadable.length === 0 && !d.lastError
      ? ': no file matches its paths yet (check them for a typo: a folder that does not exist is no error, it is watched for)'
      : '';
  return present(
    `${plural(files.length, 'file')} tracked${states ? ` (${states})` : ''}${none}`,
    `lag ${files.reduce((sum, f) => sum + (f.lagBytes ?? 0), 0)} bytes`,
    `${(d.vanished ?? []).length} vanished`,
    unreadable.length ? `${unreadable.length} unreadable` : null,
    error ? `last error: ${error}` : null,
  );
}

function serialSummary(d: SerialDetails): string[] {
  const links = d.links ?? [];
  const paused = links.filter((l) => l.paused).length;
  return present(`${links.filter((l) => l.state === 'open').length}/${plural(links.length, 'link')} open`, paused ? `${paused} paused` : null);
}

/** A kind this command does not know yet: its scalar details, as they are. */
interface HttpDetails {
  url?: string;
  auth?: string;
  messages?: number;
  inFlight?: number;
  bannedAddresses?: number;
  requests?: Record<string, number>;
}

function httpSummary(d: HttpDetails): string[] {
  const req = d.requests ?? {};
  const refused = Object.entries(req).reduce((n, [k, v]) => (k === 'accepted' || k === 'client-gone' ? n : n + v), 0);
  return present(
    d.url,
    `auth ${d.auth ?? '–'}`,
    `${d.messages ?? 0} messages committed`,
    `${req.accepted ?? 0} requests answered 200, ${refused} refused`,
    d.inFlight ? `${d.inFlight} in flight` : null,
    d.bannedAddresses ? plural(d.bannedAddresses, 'address banned', 'addresses banned') : null,
  );
}

interface SyslogDetails {
  listening?: Record<string, string>;
  connections?: number;
  messages?: number;
  parseFailures?: number;
  truncated?: number;
  dropped?: Record<string, number>;
  connectionOutcomes?: Record<string, number>;
  paused?: string;
  commitRetries?: number;
  lastError?: string;
}

/** Why a syslog source reads none of its TCP and TLS connections now (their senders queue). */
function syslogPaused(d: SyslogDetails): string | null {
  if (d.paused === 'store-refusing')
    return `reading paused: the store refuses commits, tried again every second (${d.commitRetries ?? 0} retries)${d.lastError ? `: ${d.lastError}` : ''}`;
  if (d.paused === 'max-in-flight') return 'reading paused: maxInFlight messages wait for their commits';
  return null;
}

/** Connections closed for a fault of the sender's setup (not the idle ones): said, as a sender never learns it. */
const REFUSED_CONNECTIONS = ['denied', 'dropped', 'tls-failed', 'tls-on-tcp', 'closed-before-data'];

function syslogSummary(d: SyslogDetails): string[] {
  const dropped = Object.entries(d.dropped ?? {}).filter(([, n]) => n > 0);
  const refused = REFUSED_CONNECTIONS.map((why) => [why, d.connectionOutcomes?.[why] ?? 0] as const).filter(([, n]) => n > 0);
  return present(
    Object.entries(d.listening ?? {})
      .map(([transport, at]) => `${transport} ${at}`)
      .join(', '),
    `${d.messages ?? 0} messages committed`,
    d.connections ? plural(d.connections, 'connection') : null,
    d.parseFailures ? `${d.parseFailures} neither RFC 5424 nor 3164 (kept as format unknown)` : null,
    d.truncated ? `${d.truncated} cut at maxMessageBytes` : null,
    dropped.length > 0 ? `dropped: ${dropped.map(([why, n]) => `${n} ${why}`).join(', ')}` : null,
    refused.length > 0 ? `connections closed: ${refused.map(([why, n]) => `${n} ${why}`).join(', ')}` : null,
    syslogPaused(d),
  );
}

interface SnmpDetails {
  targets?: Array<{
    name?: string;
    state?: string;
    lastError?: string | null;
    lastErrorAt?: string | null;
    polls?: number;
    lastGoodRead?: string | null;
    gaps?: number;
    schedules?: Array<{ skipped?: number }>;
  }>;
  traps?: { listening?: string | null; outcomes?: Record<string, number>; informsAnswered?: number } | null;
}

function snmpSummary(d: SnmpDetails): string[] {
  const targets = d.targets ?? [];
  const failing = targets.filter((x) => x.state === 'failing').length;
  const reads = targets.map((x) => x.lastGoodRead).filter((x): x is string => typeof x === 'string');
  const skipped = targets.reduce((n, x) => n + (x.schedules ?? []).reduce((m, s) => m + (s.skipped ?? 0), 0), 0);
  const gaps = targets.reduce((n, x) => n + (x.gaps ?? 0), 0);
  const t = d.traps;
  const dropped = Object.entries(t?.outcomes ?? {}).filter(([k, n]) => k !== 'committed' && n > 0);
  return present(
    targets.length > 0 ? `${plural(targets.length, 'target')}${failing ? ` (${failing} failing)` : ''}` : null,
    targets.length > 0 ? `${targets.reduce((n, x) => n + (x.polls ?? 0), 0)} polls committed` : null,
    targets.length > 0 ? lastGood(reads.sort().at(-1)) : null,
    skipped ? `${skipped} polls skipped` : null,
    gaps ? plural(gaps, 'gap') : null,
    t ? `traps on udp ${t.listening ?? '-'}: ${t.outcomes?.committed ?? 0} committed` : null,
    t?.informsAnswered ? `${t.informsAnswered} informs answered` : null,
    dropped.length > 0 ? `dropped: ${dropped.map(([why, n]) => `${n} ${why}`).join(', ')}` : null,
  );
}

interface SparkplugDetails extends MqttDetails {
  nodes?: { online?: number; offline?: number };
  devices?: { online?: number; offline?: number };
  births?: number;
  deaths?: number;
  seqGaps?: number;
  late?: number;
  rebirthsRequested?: number;
  unresolvedMetrics?: number;
  untracked?: number;
  undecodable?: number;
  writes?: { ok?: number; refused?: number; failed?: number };
}

/** A Sparkplug host: its connection (as an MQTT source's), the nodes and devices online, the faults seen. */
function sparkplugSummary(d: SparkplugDetails, state: string): string[] {
  const of = (x: { online?: number; offline?: number } | undefined, what: string): string =>
    `${x?.online ?? 0}/${(x?.online ?? 0) + (x?.offline ?? 0)} ${what} online`;
  return present(
    d.url,
    state !== 'connected' && d.downSince ? `no connection since ${d.downSince}` : null,
    of(d.nodes, 'nodes'),
    of(d.devices, 'devices'),
    `${plural(d.births ?? 0, 'birth')}, ${plural(d.deaths ?? 0, 'death')}`,
    d.seqGaps ? plural(d.seqGaps, 'seq gap') : null,
    d.late ? `${d.late} late (of an earlier session)` : null,
    d.rebirthsRequested ? plural(d.rebirthsRequested, 'rebirth requested', 'rebirths requested') : null,
    d.unresolvedMetrics ? `${d.unresolvedMetrics} metrics with an unknown alias` : null,
    d.untracked ? `${d.untracked} past a bound (maxNodes, maxDevicesPerNode, maxMetricsPerNode)` : null,
    d.undecodable ? `${d.undecodable} undecodable` : null,
    d.writes
      ? `${plural(d.writes.ok ?? 0, 'command')} sent${d.writes.refused ? `, ${d.writes.refused} refused` : ''}${d.writes.failed ? `, ${d.writes.failed} failed` : ''}`
      : null,
    d.lastMessageAt ? `last message ${d.lastMessageAt}` : 'no message yet',
  );
}

function genericSummary(d: Record<string, unknown>): string[] {
  return Object.entries(d)
    .filter(([k, v]) => k !== 'lastError' && ['string', 'number', 'boolean'].includes(typeof v))
    .slice(0, 5)
    .map(([k, v]) => `${k} ${String(v)}`);
}

/** 'last error at T: message': an MQTT source gives both in lastError, Modbus and OPC UA the time in lastErrorAt. */
function lastErrorOf(d: Record<string, unknown>): string | undefined {
  const e = d.lastError;
  if (typeof e === 'string' && e !== '') return typeof d.lastErrorAt === 'string' ? `last error at ${d.lastErrorAt}: ${e}` : `last error: ${e}`;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    const { at, message } = e as { at?: unknown; message: string };
    return typeof at === 'string' ? `last error at ${at}: ${message}` : `last error: ${message}`;
  }
  return undefined;
}
