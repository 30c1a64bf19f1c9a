// Idle RSS of the real `gatehouse start` (issue 15, "idle RSS after start"): the CLI as installed
// (bin/gatehouse.js with the flags and environment its launchers give, the default configuration,
// a fresh data folder), sampled from /proc/PID/status 2 s after its start line and once V8 has
// given back the young generation the start grew (the RSS stops falling; at most settleS). Both
// builds: dist/bundle/ (what bin/gatehouse.js runs, scripts/bundle.mjs) and tsc's modules
// (GATEHOUSE_BUNDLE=0). pi.ts measures its in-process gateway by start-up phase; this is what a
// user's `ps` shows.
//
//   node dist/test/bench/cli-idle.js [runs=3]      BENCH_SETTLE_S (default 40)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedBin, shippedLauncher } from './launcher.js';

export interface CliIdle {
  build: 'bundle' | 'modules';
  /** RSS 2 s after the start line (MiB). */
  at2s: number;
  /** RSS once it stopped falling (MiB), and when (s after the start line). */
  settled: number;
  settledAtS: number;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One start of the CLI with the default configuration; its idle RSS; then SIGTERM. */
export async function cliIdle(build: CliIdle['build'], settleS = Number(process.env.BENCH_SETTLE_S ?? 40)): Promise<CliIdle> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-idle-'));
  const { nodeFlags, env } = shippedLauncher();
  const child = spawn(process.execPath, [...nodeFlags, shippedBin, 'start', '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--admin-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, NODE_OPTIONS: '', GATEHOUSE_BUNDLE: build === 'bundle' ? '1' : '0' },
  });
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start line in 60 s: ${out.slice(-500)}`)), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('gatehouse started')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out.slice(-500)}`)));
    });
    child.stdout!.resume();
    await sleep(2000);
    const at2s = await rssMiB(child.pid!);
    // Settled: no fall of more than 0.25 MiB over 5 s (V8's memory reducer runs some 8-25 s into idleness).
    const samples: number[] = [at2s];
    let waited = 2;
    while (waited < settleS) {
      await sleep(1000);
      waited++;
      samples.push(await rssMiB(child.pid!));
      const last = samples.slice(-6);
      if (last.length === 6 && last[0]! - last[5]! < 0.25 && last[0]! < at2s - 1) break;
    }
    return { build, at2s, settled: samples.at(-1)!, settledAtS: waited };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatCliIdle(runs: CliIdle[]): string {
  const of = (b: CliIdle['build']) => runs.filter((r) => r.build === b);
  const line = (b: CliIdle['build'], label: string): string => {
    const rs = of(b);
    if (rs.length === 0) return '';
    return `  ${label}: 2 s ${rs.map((r) => r.at2s.toFixed(1)).join(', ')} MiB; settled ${rs.map((r) => `${r.settled.toFixed(1)} (${r.settledAtS} s)`).join(', ')} MiB\n`;
  };
  return `idle RSS of the real \`gatehouse start\` (default configuration, as installed):\n${line('bundle', 'dist/bundle (what bin/gatehouse.js runs)')}${line('modules', "tsc's modules (GATEHOUSE_BUNDLE=0)")}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const n = Number(process.argv[2] ?? 3);
  const runs: CliIdle[] = [];
  // Alternated, so a drift of the machine falls on both.
  for (let i = 0; i < n; i++) for (const b of ['bundle', 'modules'] as const) runs.push(await cliIdle(b));
  process.stdout.write(formatCliIdle(runs));
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ bench: 'cli-idle', runs })}\n`);
}
