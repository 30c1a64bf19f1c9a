// NAB benchmark: run detectors over every CSV of ../shared/nab/data (or $NAB_DIR), write NAB's
// results layout in a temp dir, and score with the benchmark's own score.py, at the best
// threshold (NAB's scoreboard) and at the gateway's fixed default threshold.
// Usage: node --import tsx test/bench/nab.ts [detector ...] [--param key=value ...] [--threshold X] [--keep]
//   default detectors: auto rcf zscore. --param and --threshold (fixed threshold) apply to the
//   first detector named.
import { mkdtemp, mkdir, readdir, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDetector, AUTO_THRESHOLD, type ParamValue } from '../../rules/anomaly/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(join('dist', 'test')) ? resolve(here, '../../..') : resolve(here, '../..');
const nab = process.env.NAB_DIR ? resolve(process.env.NAB_DIR) : resolve(root, '../shared/nab');

const argv = process.argv.slice(2);
const names: string[] = [];
const params: Record<string, ParamValue> = {};
let keep = false;
let fixedFirst = NaN;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--param') {
    const kv = argv[++i] ?? '';
    params[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  } else if (a === '--threshold') fixedFirst = Number(argv[++i]);
  else if (a === '--keep') keep = true;
  else names.push(a);
}
if (names.length === 0) names.push('auto', 'rcf', 'zscore');

// Fixed thresholds for the non-default detectors: their documented alert levels.
const FIXED: Record<string, number> = { auto: AUTO_THRESHOLD, cad: 0.8, rcf: 3, zscore: 4, ewma: 4 };
if (Number.isFinite(fixedFirst) && names[0]) FIXED[names[0]] = fixedFirst;

const out = await mkdtemp(join(tmpdir(), 'gatehouse-nab-'));
const results = join(out, 'RESULTS');
const timings: string[] = [];
for (const [n, name] of names.entries()) {
  let points = 0;
  const t0 = performance.now();
  for (const cat of (await readdir(join(nab, 'data'))).sort()) {
    await mkdir(join(results, name, cat), { recursive: true });
    for (const file of (await readdir(join(nab, 'data', cat))).filter((f) => f.endsWith('.csv')).sort()) {
      const text = await readFile(join(nab, 'data', cat, file), 'utf8');
      const det = createDetector(name, n === 0 ? params : {});
      const rows = ['timestamp,anomaly_score'];
      for (const line of text.split('\n').slice(1)) {
        if (!line) continue;
        const c = line.indexOf(',');
        const score = det.update(Number(line.slice(c + 1)));
        rows.push(`${line.slice(0, c)},${score}`);
        points++;
      }
      await writeFile(join(results, name, cat, `${name}_${file}`), `${rows.join('\n')}\n`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  timings.push(`${name.padEnd(10)} ${points} points in ${secs.toFixed(1)} s (${Math.round(points / secs)} points/s, noisy)`);
}
const thresholds: Record<string, Record<string, number>> = {};
for (const name of names) {
  const t = FIXED[name] ?? 1;
  thresholds[name] = { standard: t, reward_low_FP_rate: t, reward_low_FN_rate: t };
}
await writeFile(join(out, 'thresholds.json'), JSON.stringify(thresholds));
const score = (extra: string[]): string => {
  const r = spawnSync('python3', [join(nab, 'score.py'), results, '--labels', join(nab, 'labels', 'combined_windows.json'), ...extra], { encoding: 'utf8' });
  return (r.stdout ?? '') + (r.status === 0 ? '' : (r.stderr ?? ''));
};
console.log(`NAB data: ${nab}`);
console.log(timings.join('\n'));
console.log('\n== best threshold in hindsight (NAB scoreboard) ==');
console.log(score([]));
console.log(`== fixed thresholds ${JSON.stringify(Object.fromEntries(names.map((n) => [n, FIXED[n] ?? 1])))} ==`);
console.log(score(['--thresholds', join(out, 'thresholds.json')]));
if (keep) console.log(`results kept in ${results}`);
else await rm(out, { recursive: true, force: true });
