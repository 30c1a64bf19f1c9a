// A/B of a hot-path change with the Pi bench (pi.ts): this checkout against another built one,
// runs alternated (A B, B A, A B...) so both sides share whatever the host does meanwhile. On a
// shared VM one run's PUBACK p99 or CPU per message moves by 10-30% from one minute to the next,
// more than most changes; only alternated pairs tell them apart. Prints every run, then per side
// the median and the range, and the median of the pairwise differences (B - A).
// Each pair swaps which side runs first: the second run of a pair read 8-9 us per message cheaper
// than the first, whichever side it was, in round 13's two A/Bs of the same two commits (HEAD then
// base: -8.8; base then HEAD: -8.1), an order bias as large as the changes being measured. Swapped
// pairs cancel it in the median of the differences; use an even number of pairs.
//
//   git worktree add --detach ../gh-base <commit> && ln -s "$PWD/node_modules" ../gh-base/
//   (cd ../gh-base && npm run -s build) && npm run -s build
//   node dist/test/bench/ab.js ../gh-base [pairs, default 6] [seconds per run, default 10]
//
// A is the other checkout (the base), B this one. BENCH_RATES (default 5000) and the other pi.ts
// variables pass through; the gateway variant only, without the settled-idle wait.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Row {
  run: string;
  msgsPerSec: number;
  p50: number;
  p99: number;
  commitsPerSec: number;
  cpuUsPerMsg: number;
  load1: number;
}

const FIGURES = ['msgsPerSec', 'p50', 'p99', 'commitsPerSec', 'cpuUsPerMsg'] as const;
type Figure = (typeof FIGURES)[number];

const here = dirname(fileURLToPath(import.meta.url));

function runPi(benchDir: string, seconds: number): Row[] {
  const r = spawnSync(process.execPath, [join(benchDir, 'pi.js'), String(seconds)], {
    encoding: 'utf8',
    env: { ...process.env, BENCH_VARIANTS: 'gateway', BENCH_RATES: process.env.BENCH_RATES ?? '5000', BENCH_SETTLE_S: '0' },
    timeout: 600_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`pi bench in ${benchDir} printed no result (exit ${r.status}): ${r.stderr.slice(-500)}`);
  return (JSON.parse(line.slice('BENCH_JSON '.length)) as { rows: Row[] }).rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

function main(): void {
  const other = process.argv[2];
  const pairs = Number(process.argv[3] ?? 6);
  const seconds = Number(process.argv[4] ?? 10);
  if (!other || !Number.isInteger(pairs) || pairs < 1 || !(seconds > 0)) {
    console.error('usage: node dist/test/bench/ab.js OTHER_CHECKOUT [pairs] [seconds per run]');
    process.exit(2);
  }
  const sides = { A: resolve(other, 'dist/test/bench'), B: here };
  if (!existsSync(join(sides.A, 'pi.js'))) {
    console.error(`${sides.A}/pi.js not found: build the other checkout first (npm run -s build there)`);
    process.exit(2);
  }
  const got: Record<'A' | 'B', Row[][]> = { A: [], B: [] };
  console.log(`A/B: A = ${resolve(other)}, B = this checkout; ${pairs} pairs of ${seconds} s runs, alternated (A B, B A, ...)`);
  if (pairs % 2 === 1) console.log('(an odd number of pairs: the order bias does not cancel; prefer an even number)');
  console.log('pair side  run          load1   msgs/s  p50 ms  p99 ms  fsyncs/s  CPU us/msg');
  for (let i = 1; i <= pairs; i++) {
    const order = i % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const side of order) {
      const rows = runPi(sides[side], seconds);
      got[side].push(rows);
      for (const r of rows) {
        console.log(
          `${String(i).padStart(4)} ${side.padStart(4)}  ${r.run.padEnd(11)} ${r.load1.toFixed(1).padStart(6)} ${fmt(r.msgsPerSec).padStart(8)} ${fmt(r.p50).padStart(7)} ${fmt(r.p99).padStart(7)} ${fmt(r.commitsPerSec).padStart(9)} ${fmt(r.cpuUsPerMsg).padStart(11)}`,
        );
      }
    }
  }
  const runs = got.A[0]!.map((r) => r.run);
  for (const [k, run] of runs.entries()) {
    console.log(`\n${run}: median (range) per side, and the median of the pairwise differences B - A`);
    for (const f of FIGURES) {
      const a = got.A.map((rows) => rows[k]![f as Figure]);
      const b = got.B.map((rows) => rows[k]![f as Figure]);
      const d = b.map((x, i) => x - a[i]!);
      const side = (xs: number[]): string => `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
      console.log(`  ${f.padEnd(14)} A ${side(a).padEnd(22)} B ${side(b).padEnd(22)} B - A ${fmt(median(d))}`);
    }
  }
}

main();
