// `gatehouse status`: the running gateway in a few lines (GET /api/overview, what the status page
// shows): health, uptime, rates, clients, links, sources, streams and backlog, the rule set; or,
// while its start waits for disk space to open the store, what it waits for and what to do.
import { SOURCE_UP_STATES } from '../pipeline/contract.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { ADMIN_COMMAND_OPTIONS, ADMIN_FLAGS_HELP, JSON_FLAG_HELP, adminGet, resolveAdmin } from './admin-client.js';

const USAGE = 'gatehouse status [--admin URL | --config FILE] [--token T] [--json]';

interface Starting {
  state: string;
  waitingFor: string;
  since?: string;
  reason?: string;
  storePath?: string;
  freeBytes?: number | null;
  neededBytes?: number;
  reserveBytes?: number;
  attempts?: number;
  whatToDo?: string;
  notRunning?: string;
}

export interface Overview {
  gatewayId: string;
  version: string;
  health: { ok: boolean; status?: string; reason?: string; warning?: string; fix?: string; notice?: string; uptimeSeconds?: number };
  starting?: Starting;
  current?: { in: number; out: number };
  clients?: unknown[];
  links?: Array<{ state?: string }>;
  sources?: Array<{ name?: string; state?: string; builtIn?: boolean }>;
  streams?: Array<{
    name: string;
    internal?: boolean;
    bytes?: number;
    maxBytes?: number;
    onFull?: string;
    rejectedAppends?: number;
    exporters?: Array<{ state?: string; backlog?: { records?: number } }>;
  }>;
  rules?: { activeVersion?: number | null; activeConfirmed?: boolean | null };
  /** The board (runtime/host/health.ts hostOverview); null or absent where none of its files exist. */
  host?: HostOverview | null;
  /** Device shadows kept (gateway/shadow/); null when the service is switched off. */
  shadows?: number | null;
  /** Records held in dead-letter streams (absent from a gateway older than this CLI). */
  deadLetterRecords?: number;
}

export interface HostOverview {
  temperatures?: Array<{ zone: string; type: string; celsius: number }>;
  throttled?: { raw: string; text: string } | null;
  underVoltage?: boolean | null;
  pressure?: Record<string, { someAvg60: number | null; fullAvg60: number | null }>;
  emmc?: Array<{ device: string; usedA?: number; usedB?: number; preEol?: string }>;
  memory?: { totalBytes: number; availableBytes: number } | null;
}

/** The board in one line: "host: cpu-thermal 48.3 °C; power ok (flags 0x0); memory 812.4 MiB of 3.7 GiB available; ..." */
export function describeHost(h: HostOverview): string {
  const parts: string[] = [];
  const temps = h.temperatures ?? [];
  if (temps.length > 0) parts.push(temps.map((t) => `${t.type} ${t.celsius.toFixed(1)} °C`).join(', '));
  if (h.throttled)
    parts.push(h.throttled.text === 'none' ? `power and clock ok (flags ${h.throttled.raw})` : `${h.throttled.text.toUpperCase()} (flags ${h.throttled.raw})`);
  else if (h.underVoltage === true) parts.push('UNDER-VOLTAGE NOW');
  else if (h.underVoltage === false) parts.push('power ok');
  if (h.memory) parts.push(`memory ${fmtBytes(h.memory.availableBytes)} of ${fmtBytes(h.memory.totalBytes)} available`);
  const stalls = Object.entries(h.pressure ?? {})
    .filter(([, p]) => (p.someAvg60 ?? 0) >= 1)
    .map(([r, p]) => `${r} ${Math.round((p.someAvg60 ?? 0) * 10) / 10}%`);
  // The kernel's pressure stall (PSI) "some" average: the share of the last minute in which some task
  // waited for the resource. Before: "stalled over the last minute: cpu 41.67%", read as the gateway
  // having stood still for 41.67% of the minute.
  if (stalls.length > 0) parts.push(`time tasks waited for ${stalls.join(', ')} over the last minute (pressure stall, docs/monitoring.md)`);
  for (const e of h.emmc ?? []) {
    const used = Math.max(e.usedA ?? 0, e.usedB ?? 0);
    parts.push(`eMMC ${e.device}${used ? ` up to ${Math.round(used * 100)}% worn` : ''}${e.preEol ? `, pre-EOL ${e.preEol}` : ''}`);
  }
  return `  host: ${parts.length > 0 ? parts.join('; ') : 'nothing read'}`;
}

function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unknown';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** A rate as the status page's cards show it (format.js fmtRate): 0.33, 12.5, 4,210; not 1.9899911385794096. */
export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

/**
 * Streams that refused appends since the start, or are 90% full (the status page flags the same
 * rows): a full `onFull: reject` stream refuses what the rules route into it, so its publishers
 * get no PUBACK while /healthz, which is about the disk and the broker, still says ok.
 */
function streamsToWatch(o: Overview): Array<{ name: string; fullPercent: number; rejectedAppends: number }> {
  return (o.streams ?? [])
    .filter((s) => !s.internal)
    .map((s) => ({
      name: s.name,
      fullPercent: s.maxBytes ? Math.floor(((s.bytes ?? 0) * 100) / s.maxBytes) : 0,
      rejectedAppends: s.rejectedAppends ?? 0,
    }))
    .filter((s) => s.rejectedAppends > 0 || s.fullPercent >= 90);
}

/** The stable --json document: the figures the text shows, by name. */
export function statusSummary(o: Overview): Record<string, unknown> {
  const exporters = (o.streams ?? []).flatMap((s) => s.exporters ?? []);
  const configured = (o.sources ?? []).filter((s) => !s.builtIn);
  return {
    gatewayId: o.gatewayId,
    version: o.version,
    health: o.health,
    ...(o.starting ? { starting: o.starting } : {}),
    running: o.starting === undefined,
    rates: { in: o.current?.in ?? 0, out: o.current?.out ?? 0 },
    clients: (o.clients ?? []).length,
    links: { open: (o.links ?? []).filter((l) => l.state === 'open').length, total: (o.links ?? []).length },
    // Configured sources, as `gatehouse sources` lists them (not the built-in broker, serial, control, republish).
    sources: {
      total: configured.length,
      notRunning: configured.filter((s) => !SOURCE_UP_STATES.has(s.state ?? '')).map((s) => `${s.name}: ${s.state}`),
    },
    streams: (o.streams ?? []).length,
    streamsToWatch: streamsToWatch(o),
    backlogRecords: exporters.reduce((n, e) => n + (e.backlog?.records ?? 0), 0),
    exportersInBackoff: exporters.filter((e) => e.state === 'backoff').length,
    rules: { version: o.rules?.activeVersion ?? null, confirmed: o.rules?.activeConfirmed ?? null },
    host: o.host ?? null,
    shadows: o.shadows ?? null,
    deadLetterRecords: o.deadLetterRecords ?? null,
  };
}

/** The lines `gatehouse status` prints for an /api/overview answer. */
export function describeStatus(o: Overview): string[] {
  const head = `${o.gatewayId} (version ${o.version}): ${o.health.status ?? (o.health.ok ? 'ok' : 'degraded')}`;
  const s = o.starting;
  if (s) {
    if (s.state !== 'waiting-for-disk') return [`${head}: NOT STARTED yet, waiting for ${s.waitingFor}`];
    return [
      `${head}: NOT STARTED: waiting for ${s.waitingFor} since ${s.since} (${s.attempts ?? 0} attempt${s.attempts === 1 ? '' : 's'})`,
      `  free space: ${fmtBytes(s.freeBytes)}; needed: about ${fmtBytes(s.neededBytes)} to open${s.reserveBytes ? `, + ${fmtBytes(s.reserveBytes)} (store.reserveBytes) for appends` : ''}`,
      `  store: ${s.storePath}`,
      `  why: ${s.reason}`,
      `  what to do: ${s.whatToDo}`,
      `  meanwhile: ${s.notRunning}`,
    ];
  }
  const sum = statusSummary(o) as ReturnType<typeof statusSummary> & {
    rates: { in: number; out: number };
    links: { open: number; total: number };
    sources: { total: number; notRunning: string[] };
    streamsToWatch: ReturnType<typeof streamsToWatch>;
  };
  const lines = [`${head}, up ${o.health.uptimeSeconds ?? 0}s${o.health.reason ? `: ${o.health.reason}` : ''}`];
  // Healthy but worth knowing: a slow disk (store commits slow on average: PUBACKs late).
  if (o.health.warning) lines.push(`  warning: ${o.health.warning}`);
  // A store not writable (low space, a failed write), or a stalled disk: what to do.
  if (o.health.fix) lines.push(`  what to do: ${o.health.fix}`);
  // A damaged store repaired at start: records may be lost (GH_STORE_REPAIRED).
  if (o.health.notice) lines.push(`  NOTICE: ${o.health.notice}`);
  lines.push(
    `  ingest ${fmtRate(sum.rates.in)} msgs/s, export ${fmtRate(sum.rates.out)} records/s; ${sum.clients} MQTT client(s); serial links ${sum.links.open}/${sum.links.total} open${o.shadows ? `; ${o.shadows} device shadow(s)` : ''}`,
  );
  lines.push(
    `  ${sum.streams} stream(s), backlog ${sum.backlogRecords} record(s)${sum.exportersInBackoff ? `, ${sum.exportersInBackoff} exporter(s) in backoff (gatehouse streams)` : ''}${
      // Records a destination refused for good: 'ok' said nothing of them, only 'gatehouse streams' did.
      o.deadLetterRecords ? `, ${o.deadLetterRecords} dead letter(s) held (gatehouse streams dead-letters)` : ''
    }`,
  );
  if (sum.streamsToWatch.length > 0) {
    const each = sum.streamsToWatch.map((s) => `${s.name} ${s.fullPercent}% full${s.rejectedAppends > 0 ? `, ${s.rejectedAppends} append(s) refused` : ''}`);
    lines.push(`  streams to watch: ${each.join('; ')} (gatehouse streams)`);
  }
  lines.push(
    `  ${sum.sources.total} configured source(s)${sum.sources.notRunning.length ? `, not up: ${sum.sources.notRunning.join(', ')} (gatehouse sources)` : sum.sources.total ? ', all up' : ''}`,
  );
  const r = sum.rules as { version: number | null; confirmed: boolean | null };
  lines.push(`  rule set version ${r.version ?? 'none'}${r.confirmed === false ? ' (on probation)' : ''}`);
  // The board: temperature, under-voltage and throttling, memory (where the files exist).
  if (o.host) lines.push(describeHost(o.host));
  return lines;
}

export async function runStatus(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(argv, ADMIN_COMMAND_OPTIONS, USAGE);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nShows the running gateway in a few lines (what the status page shows): health, uptime, rates, clients, links, streams and backlog, sources, rule set; while its start waits for disk space to open the store, what it waits for since when, free vs needed bytes and what to do. Exit 0 when the gateway answers healthy, 1 when it answers unhealthy (degraded, starting, stopping) or cannot be reached.\n${ADMIN_FLAGS_HELP}\n${JSON_FLAG_HELP}`,
    );
    return 0;
  }
  const target = await resolveAdmin(values.admin, values.config, values.token);
  const o = (await adminGet(target, '/api/overview', 'health')) as unknown as Overview;
  if (values.json) writeLine(io.stdout, JSON.stringify(statusSummary(o), null, 2));
  else for (const line of describeStatus(o)) writeLine(io.stdout, line);
  return o.health.ok ? 0 : 1;
}
