// `gatehouse diagnose`: one text file an engineer on the phone can ask a site for, with what the
// gateway and its machine look like now: version, Node, OS, kernel, board, uptime, the board's
// health, the data dir's disk, the configuration and rule set with every secret redacted, the
// certificates' expiry, and, when the gateway runs, its status, streams, exporters, dead letters
// and metrics through the admin API; then its last log lines, and what could not be collected and
// why. It works with the gateway down (the admin API parts are then listed as not collected) and
// never blocks long: each part has a deadline (--timeout, 5 s), the admin API's requests included.
// Secrets: diagnose-redact.ts (by key, by value, then scrubbed from every section as a backstop).
import { existsSync } from 'node:fs';
import { readFile, writeFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import { loadConfig, type GatehouseConfig } from '../config/index.js';
import { ADMIN_DEADLINE, adminGet, adminGetText, resolveAdmin, type AdminTarget } from './admin-client.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { describeStatus, type Overview } from './status.js';
import { redactConfig, scrubber } from './diagnose-redact.js';
import {
  certificatesSection,
  configSection,
  diskSection,
  environmentSection,
  fmtBytes,
  hostSection,
  logSection,
  rulesSection,
  systemSection,
  type SectionText,
} from './diagnose-sections.js';

const USAGE =
  'gatehouse diagnose [--config FILE] [--data-dir DIR] [--admin URL] [--token T] [--out FILE|DIR] [--log-lines N] [--log-file FILE] [--unit NAME] [--timeout SECONDS]';

const HELP = `usage: ${USAGE}
Writes one text file for support: version, Node, OS, kernel, board, uptime, the board's health
(temperature, under-voltage, throttling), the data dir's disk, the configuration and rule set with
every secret redacted, certificate expiry, and when the gateway runs its status, streams, exporters,
dead letters and metrics (admin API), the last log lines, and what could not be collected and why.
Works with the gateway stopped. Secrets (passwords, tokens, keys, communities, credentials in URLs,
header values) are replaced by <redacted>; files holding secrets are never read. Read it before you
send it.
  --config FILE     the gateway's config file (with neither this nor --data-dir: the systemd
                    unit's /etc/gatehouse/gatehouse.yaml and /var/lib/gatehouse, when it exists)
  --data-dir DIR    the data dir, as given to start
  --admin URL       the admin API (default: from --config, else http://127.0.0.1:9883)
  --token T         admin bearer token (else GATEHOUSE_ADMIN_TOKEN, else admin.token of --config)
  --out FILE|DIR    write there (a folder: gatehouse-diag-<host>-<time>.txt in it); default stdout
  --log-lines N     log lines to include (default 200, at most 5000)
  --log-file FILE   the gateway's log file, when it does not log to the journal
  --unit NAME       the systemd unit whose journal to read (default gatehouse)
  --timeout SECONDS the most any one part may take (default 5)`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  admin: { type: 'string' },
  token: { type: 'string' },
  out: { type: 'string', short: 'o' },
  'log-lines': { type: 'string' },
  'log-file': { type: 'string' },
  unit: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Section {
  title: string;
  lines: string[];
}

/** A part that failed: what it is and why (the file's last section). */
interface Missing {
  what: string;
  why: string;
}

function positiveInt(v: string | undefined, flag: string, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new GatehouseError('GH_ARG_INVALID', `${flag} '${v}' is not a whole number from 1 to ${max}`, { where: flag, hint: `e.g. ${flag} ${dflt}` });
  return n;
}

/** `p`, or a rejection after `ms` (its work is left to end by itself: every part here is bounded). */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The admin API's parts, when the gateway answers: status lines, streams and exporters, dead letters, metrics. */
async function adminSections(target: AdminTarget, ms: number, add: (s: Section) => void, miss: (m: Missing) => void): Promise<void> {
  let overview: Overview & { streams?: Array<Record<string, unknown>>; certificates?: unknown[] };
  try {
    overview = (await withDeadline(adminGet(target, '/api/overview', 'health'), ms)) as unknown as typeof overview;
  } catch (err) {
    const why = err instanceof GatehouseError ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : errorMessage(err);
    miss({ what: `the running gateway (admin API ${target.url}): status, streams, exporters, dead letters, metrics`, why });
    return;
  }
  add({ title: 'status (gatehouse status)', lines: describeStatus(overview) });
  const streams: string[] = [];
  for (const s of overview.streams ?? []) {
    const st = s as {
      name: string;
      records?: number;
      bytes?: number;
      maxBytes?: number;
      onFull?: string;
      droppedRecords?: number;
      rejectedAppends?: number;
      oldestAt?: string | null;
    };
    streams.push(
      `${st.name}: ${st.records ?? 0} record(s), ${fmtBytes(st.bytes ?? 0)} of ${fmtBytes(st.maxBytes ?? 0)} (${st.onFull}), dropped ${st.droppedRecords ?? 0}, refused ${st.rejectedAppends ?? 0}${st.oldestAt ? `, oldest ${st.oldestAt}` : ''}`,
    );
    for (const e of (s.exporters as Array<Record<string, unknown>> | undefined) ?? []) {
      const ex = e as {
        name: string;
        state: string;
        destination?: { kind: string; target: string };
        backlog?: { records?: number; ageSeconds?: number };
        exportedRecords?: number;
        retries?: number;
        deadLetters?: number;
        lastError?: { message: string; since: string; current: boolean };
      };
      streams.push(
        `  exporter ${ex.name} -> ${ex.destination?.kind ?? '?'} ${ex.destination?.target ?? ''}: ${ex.state}, backlog ${ex.backlog?.records ?? 0}, exported ${ex.exportedRecords ?? 0}, retries ${ex.retries ?? 0}, dead letters ${ex.deadLetters ?? 0}${ex.lastError ? `; last error${ex.lastError.current ? ` (failing since ${ex.lastError.since})` : ''}: ${ex.lastError.message}` : ''}`,
      );
    }
  }
  add({ title: 'streams and exporters', lines: streams.length > 0 ? streams : ['none'] });
  try {
    const dl = (await withDeadline(adminGet(target, '/api/dead-letters', 'deadLetters'), ms)) as {
      deadLetters: Array<{
        stream: string;
        records: number;
        oldestAt: string | null;
        sources: Record<string, number>;
        errors: Array<{ error: string; count: number }>;
      }>;
    };
    const lines = dl.deadLetters.flatMap((d) => [
      `${d.stream}: ${d.records} record(s)${d.oldestAt ? `, oldest ${d.oldestAt}` : ''}, from ${JSON.stringify(d.sources)}`,
      ...d.errors.slice(0, 5).map((e) => `  ${e.count} x ${e.error}`),
    ]);
    add({ title: 'dead letters', lines: lines.length > 0 ? lines : ['none'] });
  } catch (err) {
    miss({ what: 'dead letters (GET /api/dead-letters)', why: errorMessage(err) });
  }
  try {
    const text = await withDeadline(adminGetText(target, '/metrics'), ms);
    // The samples, not their HELP lines; bounded (a gateway with many rules and sources has thousands).
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('# HELP'));
    const max = 4000;
    add({
      title: 'metrics (GET /metrics)',
      lines: [...samples.slice(0, max), ...(samples.length > max ? [`... ${samples.length - max} more lines left out`] : [])],
    });
  } catch (err) {
    miss({ what: 'metrics (GET /metrics)', why: errorMessage(err) });
  }
}

/** What the systemd unit runs with (systemd/gatehouse.service's ExecStart). */
export const SERVICE = { config: '/etc/gatehouse/gatehouse.yaml', dataDir: '/var/lib/gatehouse' } as const;

/**
 * The configuration and data dir to look at: those given; with neither, the systemd unit's when its
 * config file exists (so `sudo gatehouse diagnose --out /tmp` is all a site is asked to type), else
 * the built-in defaults `gatehouse start` would use here.
 */
/** Whether the config file sets dataDir at its top level (unreadable: assume it does, say nothing). */
async function configNamesDataDir(file: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined || /^["']?dataDir["']?\s*:/m.test(text);
}

export function diagnoseTarget(
  config: string | undefined,
  dataDir: string | undefined,
  exists: (p: string) => boolean = existsSync,
): { config?: string; dataDir?: string; service: boolean } {
  if (config === undefined && dataDir === undefined && exists(SERVICE.config)) return { config: SERVICE.config, dataDir: SERVICE.dataDir, service: true };
  return { ...(config !== undefined ? { config } : {}), ...(dataDir !== undefined ? { dataDir } : {}), service: false };
}

/** The file name of --out DIR: gatehouse-diag-<host>-<UTC time>.txt. */
export function diagnoseFileName(now = new Date(), host = os.hostname()): string {
  const t = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `gatehouse-diag-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${t}.txt`;
}

export async function runDiagnose(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(argv, OPTIONS, USAGE);
  if (values.help) {
    writeLine(io.stdout, HELP);
    return 0;
  }
  const logLines = positiveInt(values['log-lines'], '--log-lines', 200, 5000);
  const ms = positiveInt(values.timeout, '--timeout', 5, 600) * 1000;
  // Every admin request ends within the deadline (its socket closed): the process does not linger after the file is written.
  ADMIN_DEADLINE.ms = ms;
  const where = diagnoseTarget(values.config, values['data-dir']);
  const sections: Section[] = [];
  const missing: Missing[] = [];
  const secrets: string[] = [];
  const add = (s: Section): void => void sections.push(s);
  const miss = (m: Missing): void => void missing.push(m);
  const part = async (title: string, fn: () => Promise<SectionText> | SectionText): Promise<void> => {
    try {
      const r = await withDeadline(Promise.resolve().then(fn), ms);
      secrets.push(...(r.secrets ?? []));
      add({ title, lines: r.lines });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      // a data dir of the gateway's user (0750) read by someone else: say what to do, not only EACCES
      const fix = code === 'EACCES' || code === 'EPERM' ? " (this user may not read it: run diagnose with sudo, or as the gateway's user)" : '';
      miss({ what: title, why: `${err instanceof GatehouseError ? err.message : errorMessage(err)}${fix}` });
    }
  };

  await part('system', systemSection);
  // The configuration as the gateway reads it: where its data dir and admin API are, which certificates it names.
  const loaded: { config?: GatehouseConfig; error?: string } = {};
  try {
    loaded.config = await withDeadline(loadConfig(where.config, where.dataDir ? { dataDir: where.dataDir } : {}), ms);
    // Whatever the loaded configuration holds that is secret (the admin token, say) is scrubbed too.
    secrets.push(...redactConfig(loaded.config).secrets);
  } catch (err) {
    loaded.error = err instanceof GatehouseError ? err.describe() : errorMessage(err);
  }
  await part('board health', () => hostSection());
  const dataDir = loaded.config?.dataDir ?? where.dataDir;
  // No --data-dir and a config without dataDir: the default is relative to the working directory (configuration.md, dataDir).
  const fromCwd = !where.dataDir && where.config !== undefined && !(await configNamesDataDir(where.config));
  if (dataDir) await part('disk (data dir)', () => diskSection(dataDir, fromCwd));
  else miss({ what: 'disk (data dir)', why: 'the configuration did not load: pass --data-dir DIR' });
  await part('configuration', async () => {
    const c = await configSection(where.config, loaded);
    return where.service ? { ...c, lines: [`(no --config or --data-dir given: the systemd unit's, ${SERVICE.config} and ${SERVICE.dataDir})`, ...c.lines] } : c;
  });
  const config = loaded.config;
  if (config) {
    await part('rule set', () => rulesSection(config));
    await part('certificates', () => certificatesSection(config));
  }
  await part('environment', environmentSection);

  let target: AdminTarget | undefined;
  try {
    // With a configuration that does not load, the default address (or --admin). --admin with
    // --config: the address given, with the config's admin.token unless --token or GATEHOUSE_ADMIN_TOKEN is given.
    const token = values.token || process.env.GATEHOUSE_ADMIN_TOKEN || (values.admin ? config?.admin.token : undefined);
    target = await resolveAdmin(values.admin ?? (where.config && !config ? 'http://127.0.0.1:9883' : undefined), config ? where.config : undefined, token);
    if (target.token) secrets.push(target.token);
  } catch (err) {
    miss({ what: 'the running gateway (admin API)', why: err instanceof GatehouseError ? `${err.message} (${err.hint})` : errorMessage(err) });
  }
  if (target) await adminSections(target, ms, add, miss);
  await part(`log (last ${logLines} lines)`, () =>
    logSection({ unit: values.unit ?? 'gatehouse', lines: logLines, timeoutMs: ms, ...(values['log-file'] ? { logFile: values['log-file'] } : {}) }),
  );

  const scrub = scrubber(secrets);
  const out = [
    `# Gatehouse diagnostics: ${os.hostname()}, ${new Date().toISOString()}`,
    '# Secrets are replaced by <redacted>; files holding secrets were not read. Read this file before you send it.',
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', ...s.lines, '']),
    '## not collected',
    '',
    ...(missing.length === 0 ? ['everything above was collected'] : missing.map((m) => `- ${m.what}: ${m.why}`)),
    '',
  ]
    .map(scrub)
    .join('\n');

  if (values.out === undefined) {
    io.stdout.write(out);
    return 0;
  }
  const isDir = await stat(values.out).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const file = isDir ? join(values.out, diagnoseFileName()) : values.out;
  // Owner-only: it names the site's hosts, users and addresses.
  await writeFile(file, out, { mode: 0o600 });
  writeLine(io.stderr, `gatehouse diagnose: wrote ${file} (${fmtBytes(Buffer.byteLength(out))}; ${missing.length} part(s) not collected, listed at its end)`);
  return 0;
}
