// The sections of `gatehouse diagnose` it reads on this machine, the gateway running or not: the
// system, the board's health, the data dir's disk, the configuration (redacted), the certificates
// it names, the gateway's log. Each returns its lines or throws (the command lists what failed,
// and why, at the end). Nothing here reads a file the configuration names as a secret (passwords,
// tokens, keys): only certificates (public) are read, by certificateLines.
import { execFile } from 'node:child_process';
import { open, readFile, readdir, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { errorMessage } from '../../core/errors.js';
import type { GatehouseConfig } from '../config/index.js';
import { readConfigFile } from '../config/index.js';
import { probeHost, readHost } from '../runtime/host/read.js';
import { sampleOverview } from '../runtime/host/health.js';
import { certificateLines } from './cert-lines.js';
import { describeHost, type HostOverview } from './status.js';
import { VERSION } from './version.js';
import { redactConfig, redactUrl } from './diagnose-redact.js';

/** Lines, and the secrets a section took out (scrubbed from every other section). */
export interface SectionText {
  lines: string[];
  secrets?: string[];
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

async function firstLine(path: string): Promise<string | undefined> {
  try {
    // device-tree strings end with a NUL
    return (await readFile(path, 'utf8')).replace(/\0/g, '').trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function systemSection(): Promise<SectionText> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  // A Pi's model from its device tree; a PC's from DMI (product_name is readable by everyone, its serial is not read)
  const model = (await firstLine('/proc/device-tree/model')) ?? (await firstLine('/sys/class/dmi/id/product_name'));
  const up = os.uptime();
  return {
    lines: [
      `gatehouse: ${VERSION}`,
      `node: ${process.version} (v8 ${process.versions.v8}, ${process.arch}) at ${process.execPath}`,
      `os: ${pretty ?? `${os.type()} (no /etc/os-release)`}`,
      `kernel: ${os.release()} ${os.version()}`,
      `board: ${model ?? 'unknown (no /proc/device-tree/model or DMI product name)'}`,
      `host name: ${os.hostname()}`,
      `uptime: ${Math.floor(up / 86400)}d ${Math.floor((up % 86400) / 3600)}h ${Math.floor((up % 3600) / 60)}m; load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${os.cpus().length} CPU(s)`,
      `memory: ${fmtBytes(os.freemem())} free of ${fmtBytes(os.totalmem())}`,
      `user: ${os.userInfo().username} (uid ${process.getuid?.() ?? '?'})`,
      `time: ${new Date().toISOString()} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`,
    ],
  };
}

/** The board, read once as the gateway reads it (runtime/host/): temperatures, throttling, PSI, eMMC. */
export async function hostSection(root = '/'): Promise<SectionText> {
  const files = await probeHost(root);
  const s = await readHost(files);
  const o = sampleOverview(s) as HostOverview & { problems?: string[] };
  const lines = [describeHost(o).trim()];
  for (const t of s.temperatures) lines.push(`temperature ${t.zone} (${t.type}): ${t.celsius.toFixed(1)} °C`);
  if (s.throttled) lines.push(`Raspberry Pi firmware flags (get_throttled): 0x${s.throttled.raw.toString(16)}: ${(o.throttled as { text: string }).text}`);
  else lines.push('Raspberry Pi firmware flags: not on this machine (no get_throttled)');
  for (const [r, p] of Object.entries(s.pressure))
    lines.push(
      `pressure ${r}: some avg10/60/300 ${p.some?.avg10}/${p.some?.avg60}/${p.some?.avg300}%${p.full ? `, full ${p.full.avg10}/${p.full.avg60}/${p.full.avg300}%` : ''}`,
    );
  for (const e of s.emmc) lines.push(`eMMC ${e.device}: life used up to A ${e.usedA ?? '?'} B ${e.usedB ?? '?'}, pre-EOL ${e.preEol ?? '?'}`);
  for (const p of s.problems) lines.push(`could not read: ${p}`);
  return { lines };
}

/** Free space where the data dir is, and what the data dir holds (sizes of its top entries, bounded). */
export async function diskSection(dataDir: string, fromCwd = false): Promise<SectionText> {
  const lines = [`data dir: ${dataDir}`];
  let where = dataDir;
  const exists = await stat(dataDir).then(
    () => true,
    () => false,
  );
  if (!exists) {
    lines.push('  (does not exist yet: the space below is of its parent)');
    // A config without dataDir puts it in the folder the gateway was started from: diagnose run from
    // another folder looks at the wrong place, and "does not exist yet" reads as "no data".
    if (fromCwd)
      lines.push(
        "  (the configuration names no dataDir: the gateway's is ./gatehouse-data of the folder it was started from, this one is of diagnose's; pass --data-dir DIR)",
      );
    where = join(dataDir, '..');
  }
  const fs = await statfs(where);
  const total = fs.blocks * fs.bsize;
  const avail = fs.bavail * fs.bsize;
  lines.push(`filesystem: ${fmtBytes(avail)} available of ${fmtBytes(total)} (${total > 0 ? Math.round(((total - avail) * 100) / total) : 0}% used)`);
  if (!exists) return { lines };
  let budget = 20_000;
  const sizeOf = async (p: string): Promise<number> => {
    if (budget-- <= 0) return 0;
    const st = await stat(p).catch(() => undefined);
    if (!st) return 0;
    if (!st.isDirectory()) return st.size;
    let n = 0;
    for (const e of await readdir(p).catch(() => [] as string[])) n += await sizeOf(join(p, e));
    return n;
  };
  for (const e of (await readdir(dataDir)).sort()) lines.push(`  ${e}: ${fmtBytes(await sizeOf(join(dataDir, e)))}`);
  if (budget <= 0) lines.push('  (sizes partial: more than 20,000 files)');
  return { lines };
}

/** The configuration file as written, every secret redacted (diagnose-redact.ts), and whether it validates. */
export async function configSection(file: string | undefined, loaded: { config?: GatehouseConfig; error?: string }): Promise<SectionText> {
  if (file === undefined) {
    return {
      lines: ['no --config: the built-in default configuration (gatehouse start without --config)', loaded.error ? `invalid: ${loaded.error}` : 'valid'],
    };
  }
  const doc = await readConfigFile(file);
  const r = redactConfig(doc);
  const lines = [
    `file: ${file}`,
    loaded.error ? `INVALID: ${loaded.error}` : 'valid (as `gatehouse check-config` reads it)',
    `redacted: ${r.paths.length === 0 ? 'none' : r.paths.join(', ')}`,
    '',
    ...stringifyYaml(r.value).trimEnd().split('\n'),
  ];
  return { lines, secrets: r.secrets };
}

/** The rule set file the configuration names, redacted the same way (actions carry credentials too). */
export async function rulesSection(config: GatehouseConfig): Promise<SectionText> {
  if (!config.rulesFile) return { lines: [config.rules ? 'inline in the configuration (above)' : 'none: the default rule set (SELECT * FROM # into archive)'] };
  const st = await stat(config.rulesFile);
  if (st.size > 256 * 1024) return { lines: [`file: ${config.rulesFile} (${fmtBytes(st.size)}: too large to include; ask for it)`] };
  const r = redactConfig(await readConfigFile(config.rulesFile));
  return {
    lines: [
      `file: ${config.rulesFile}`,
      `redacted: ${r.paths.length === 0 ? 'none' : r.paths.join(', ')}`,
      '',
      ...stringifyYaml(r.value).trimEnd().split('\n'),
    ],
    secrets: r.secrets,
  };
}

export function certificatesSection(config: GatehouseConfig): SectionText {
  const c = certificateLines(config);
  return { lines: c.info.length === 0 ? ['no certificate files in the configuration'] : [...c.info, ...c.warnings.map((w) => `WARNING: ${w}`)] };
}

/** The environment variables the gateway reads, URL credentials redacted, tokens not shown. */
export function environmentSection(): SectionText {
  const names = Object.keys(process.env)
    .filter((k) => /^(https?_proxy|no_proxy|all_proxy|GATEHOUSE_.*|NODE_OPTIONS|AWS_REGION|AWS_DEFAULT_REGION|AWS_PROFILE|TZ)$/i.test(k))
    .sort();
  const secrets: string[] = [];
  const lines = names.map((k) => {
    const v = process.env[k] ?? '';
    if (/TOKEN|SECRET|PASSWORD|KEY/i.test(k)) {
      secrets.push(v);
      return `${k}=<redacted>`;
    }
    const u = redactUrl(v);
    secrets.push(...u.secrets);
    return `${k}=${u.text}`;
  });
  return { lines: lines.length > 0 ? lines : ['none of the proxy, AWS region or GATEHOUSE_* variables is set'], secrets };
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err)
        reject(
          new Error(
            `${cmd}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : errorMessage(err)}${stderr ? `: ${String(stderr).trim().slice(0, 200)}` : ''}`,
          ),
        );
      else resolve(String(stdout));
    });
  });
}

/** The last `n` lines of a file, reading at most 1 MiB from its end. */
async function tailFile(path: string, n: number): Promise<string[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 1024 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (len < size) lines.shift();
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  } finally {
    await fh.close();
  }
}

/**
 * The gateway's last `n` log lines: from the journal of `unit` (the systemd unit logs there), else
 * from `logFile` (a gateway started with its stdout sent to a file). Each line cut at 2,000 characters.
 */
export async function logSection(opts: { unit: string; logFile?: string; lines: number; timeoutMs: number }): Promise<SectionText> {
  const cut = (l: string): string => (l.length > 2000 ? `${l.slice(0, 2000)}... (cut)` : l);
  if (opts.logFile) return { lines: [`file: ${opts.logFile}`, ...(await tailFile(opts.logFile, opts.lines)).map(cut)] };
  const out = await run('journalctl', ['-u', opts.unit, '-n', String(opts.lines), '--no-pager', '-o', 'short-iso', '-q'], opts.timeoutMs);
  const lines = out.split('\n').filter((l) => l !== '');
  if (lines.length === 0)
    throw new Error(
      `the journal has no lines of unit ${opts.unit} readable by this user (not installed as a service, or the user is not in the systemd-journal or adm group: run with sudo); for a gateway logging to a file, pass --log-file FILE`,
    );
  return { lines: [`journalctl -u ${opts.unit} -n ${opts.lines}`, ...lines.map(cut)] };
}
