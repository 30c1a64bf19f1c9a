// Detector speed (points/s on one core) and memory per detector (snapshot bytes, and heap +
// array-buffer delta over many detectors). Figures are noisy on a shared machine.
// Usage: node --expose-gc --import tsx test/bench/anomaly.ts
import { createDetector, type Detector, type ParamValue } from '../../rules/anomaly/index.js';

interface Case {
  label: string;
  name: string;
  params: Record<string, ParamValue>;
  inputs: number;
  points: number;
  memCount: number;
}

const CASES: Case[] = [
  { label: 'zscore (window 100)', name: 'zscore', params: {}, inputs: 1, points: 2_000_000, memCount: 1000 },
  { label: 'ewma', name: 'ewma', params: {}, inputs: 1, points: 2_000_000, memCount: 1000 },
  { label: 'rcf defaults, 1 input', name: 'rcf', params: {}, inputs: 1, points: 40_000, memCount: 100 },
  { label: 'rcf defaults, 3 inputs', name: 'rcf', params: { inputs: 3 }, inputs: 3, points: 30_000, memCount: 100 },
  { label: 'auto (default detector)', name: 'auto', params: {}, inputs: 1, points: 40_000, memCount: 100 },
  { label: 'cad', name: 'cad', params: {}, inputs: 1, points: 400_000, memCount: 100 },
];

function feed(det: Detector, n: number, inputs: number): number {
  const v = new Float64Array(inputs);
  let s = 12345;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs; j++) {
      s = (s * 16807) % 2147483647;
      v[j] = Math.sin(i / 20 + j) + (s / 2147483647) * 0.3;
    }
    acc += inputs === 1 ? det.update(v[0]!) : det.update(v);
  }
  return acc;
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const gc = (globalThis as { gc?: () => void }).gc;
const rows: string[][] = [['detector', 'points/s', 'points/CPU-s', 'snapshot bytes', 'bytes/detector (heap delta)']];
for (const c of CASES) {
  const det = createDetector(c.name, c.params);
  feed(det, Math.min(c.points / 10, 5000), c.inputs); // warm up the JIT and the forest
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  feed(det, c.points, c.inputs);
  const pps = c.points / ((performance.now() - t0) / 1000);
  // CPU time of this process: less distorted than wall time when other work shares the cores
  const cpu = process.cpuUsage(cpu0);
  const ppcs = c.points / ((cpu.user + cpu.system) / 1e6);
  gc?.();
  const before = used();
  const many: Detector[] = [];
  for (let i = 0; i < c.memCount; i++) many.push(createDetector(c.name, c.params));
  gc?.();
  const perDet = (used() - before) / c.memCount;
  rows.push([
    c.label,
    Math.round(pps).toLocaleString('en'),
    Math.round(ppcs).toLocaleString('en'),
    det.snapshot().byteLength.toLocaleString('en'),
    gc ? Math.round(perDet).toLocaleString('en') : 'run with --expose-gc',
  ]);
  many.length = 0;
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
console.log("(noisy: 2 shared cores; points/CPU-s counts only this process's CPU time; memory via process.memoryUsage heapUsed + arrayBuffers)");
