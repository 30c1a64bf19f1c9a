// The pi bench's report (pi.ts): its row type and the tables and issue-15 summary it prints.
import { type DiskProbe, latencyFloor, quantile } from './disk-floor.js';

export type Variant = 'bare' | 'gateway';

const MiB = 1048576;

/** A loop-delay figure, '-' when not measured (BENCH_LOOP_DELAY unset: NaN, null once through IPC). */
function fmtLoop(ms: number | null, digits: number): string {
  return ms === null || Number.isNaN(ms) ? '-' : ms.toFixed(digits);
}

export interface PiRow {
  broker: Variant;
  run: string;
  load1: number;
  msgsPerSec: number;
  acked: number;
  p50: number;
  p99: number;
  commitsPerSec: number;
  recordsPerCommit: number;
  /** Mean time of one commit's write (db.batch + fsync). */
  commitMs: number;
  /** p99 of one commit's write, as the upper bound of its histogram bucket (the disk's fsync tail). */
  commitP99Ms: number;
  /** store.commitDelayMs of the run (the frontier), undefined for the default. */
  commitDelayMs?: number;
  cpuUsPerMsg: number;
  /** The kernel's part of cpuUsPerMsg. */
  sysUsPerMsg: number;
  writePerPayload: number;
  logPerPayload: number;
  tablesPerPayload: number;
  exportPerPayload: number;
  peakRssMiB: number;
  /** ms per second of run the broker's main thread was runnable but waited for a CPU. */
  mainWaitMsPerS: number;
  /** ms per second of run GC paused the main thread, and its longest pause. */
  gcMsPerS: number;
  gcMaxMs: number;
  /** Event-loop delay (1 ms timer) p99 and max during the run. */
  loopP99Ms: number;
  loopMaxMs: number;
}

/** Where the PUBACK tail goes inside the broker's process (loop-watch.ts), one row per run. */
function printTail(rows: PiRow[]): void {
  console.log(
    "\nthe broker's main thread per second of each sampled span (run + the wait after it): ms it was runnable but waited for a CPU (runqueue), ms GC paused it, longest GC pause; event-loop delay of a 1 ms timer (with BENCH_LOOP_DELAY=1)",
  );
  const head = ['broker', 'run', 'p99 ms', 'runqueue ms/s', 'GC ms/s', 'GC max ms', 'loop p99 ms', 'loop max ms'];
  const cells = rows.map((r) => [
    r.broker,
    r.run,
    r.p99.toFixed(2),
    r.mainWaitMsPerS.toFixed(1),
    r.gcMsPerS.toFixed(1),
    r.gcMaxMs.toFixed(1),
    fmtLoop(r.loopP99Ms, 2),
    fmtLoop(r.loopMaxMs, 1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));
}

export function printFrontier(rows: PiRow[], seconds: number): void {
  console.log(
    `pi bench, pacing frontier: the gateway (default config) at 5,000 msgs/s from 10 publishers, ${seconds} s per store.commitDelayMs. p99 commit = the bucket bound holding the 99th percentile of one commit's write + fsync.`,
  );
  const head = [
    'commitDelayMs',
    'load1',
    'msgs/s',
    'fsyncs/s',
    'rec/commit',
    'p50 ms',
    'p99 ms',
    'commit ms',
    'p99 commit ms',
    'CPU us/msg',
    'runqueue ms/s',
    'GC ms/s',
    'loop p99 ms',
  ];
  const cells = rows.map((r) => [
    String(r.commitDelayMs ?? '-'),
    r.load1.toFixed(1),
    String(r.msgsPerSec),
    r.commitsPerSec.toFixed(0),
    r.recordsPerCommit.toFixed(1),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.commitMs.toFixed(2),
    `<=${r.commitP99Ms}`,
    r.cpuUsPerMsg.toFixed(1),
    r.mainWaitMsPerS.toFixed(1),
    r.gcMsPerS.toFixed(1),
    fmtLoop(r.loopP99Ms, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));
}

/** A broker's idle figures: by start-up phase, the idle CPU after start, and the RSS once idle again after the runs. */
export interface IdleFigures {
  broker: Variant;
  load1: number;
  phases: Array<[string, NodeJS.MemoryUsage]>;
  idleCpuMsPerS: number;
  afterRuns?: { rss: number; waitedS: number };
}

/** RSS at 'idle 2 s' (the issue's "idle RSS after start"; a 'settled' phase may follow it). */
export function idleRss(phases: Array<[string, NodeJS.MemoryUsage]>): number {
  return (phases.find(([name]) => name === 'idle 2 s') ?? phases.at(-1)!)[1].rss;
}

export function print(rows: PiRow[], idle: IdleFigures[], seconds: number, disk: DiskProbe | undefined): void {
  console.log(
    `pi bench: 10 publishers, 200-byte JSON, QoS 1, ${seconds} s per run; gateway = default config (archive rule, fsync, file exporter). Shared machine: see load1 per row.`,
  );
  const head = [
    'broker',
    'run',
    'load1',
    'msgs/s',
    'p50 ms',
    'p99 ms',
    'commits/s',
    'rec/commit',
    'commit ms',
    'CPU us/msg',
    'of it sys',
    'write/payload',
    'log',
    'tables',
    'export',
    'peak RSS MiB',
  ];
  const cells = rows.map((r) => [
    r.broker,
    r.run,
    r.load1.toFixed(1),
    String(r.msgsPerSec),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.broker === 'bare' ? '-' : r.commitsPerSec.toFixed(0),
    r.broker === 'bare' ? '-' : r.recordsPerCommit.toFixed(1),
    r.broker === 'bare' ? '-' : r.commitMs.toFixed(2),
    r.cpuUsPerMsg.toFixed(1),
    r.sysUsPerMsg.toFixed(1),
    r.writePerPayload.toFixed(2),
    r.logPerPayload.toFixed(2),
    r.tablesPerPayload.toFixed(2),
    r.exportPerPayload.toFixed(2),
    r.peakRssMiB.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));
  printTail(rows);
  console.log('\nidle memory by start-up phase (MiB: rss / heapUsed / external+arrayBuffers):');
  for (const i of idle) {
    const phases = i.phases.map(
      ([name, m]) => `${name} ${(m.rss / MiB).toFixed(0)}/${(m.heapUsed / MiB).toFixed(0)}/${((m.external + m.arrayBuffers) / MiB).toFixed(0)}`,
    );
    console.log(`  ${i.broker} (load1 ${i.load1.toFixed(1)}): ${phases.join(', ')}`);
  }
  const pick = (b: Variant, run: string): PiRow | undefined => rows.find((r) => r.broker === b && r.run === run);
  const g5 = pick('gateway', '5000/s');
  const g5n = pick('gateway', '5000/s nagle');
  const gMax = pick('gateway', 'flat out');
  const bMax = pick('bare', 'flat out');
  const gIdle = idle.find((i) => i.broker === 'gateway');
  const bIdle = idle.find((i) => i.broker === 'bare');
  console.log('\nissue 15 table:');
  if (g5) {
    console.log(
      `  commits (fsyncs)/s at 5,000 msgs/s: ${g5.commitsPerSec.toFixed(0)} (${g5.recordsPerCommit.toFixed(1)} records each), PUBACK p50/p99 ${g5.p50.toFixed(2)}/${g5.p99.toFixed(2)} ms (target <= 150, p99 <= 10 ms)`,
    );
    const b5 = pick('bare', '5000/s');
    if (disk) {
      const floor = latencyFloor(disk, b5?.p50 ?? 0);
      console.log(
        `    floor this disk sets at 150 commits/s: PUBACK p50/p99 ${floor.p50.toFixed(2)}/${floor.p99.toFixed(2)} ms (wait for the next commit, U(0, 6.67 ms), + fdatasync of a ${disk.commitBytes / 1000} KB append here, p50/p99 ${quantile(disk.syncMs, 0.5).toFixed(2)}/${quantile(disk.syncMs, 0.99).toFixed(2)} ms${b5 ? ', + bare aedes p50' : ''}; no gateway acknowledges sooner)`,
      );
    }
    console.log(
      `    inside the gateway at 5,000 msgs/s, per second: its main thread waited ${g5.mainWaitMsPerS.toFixed(0)} ms for a CPU and GC paused it ${g5.gcMsPerS.toFixed(0)} ms (longest ${g5.gcMaxMs.toFixed(1)}); event-loop delay p99/max ${fmtLoop(g5.loopP99Ms, 1)}/${fmtLoop(g5.loopMaxMs, 1)} ms${b5 ? ` (bare aedes: ${b5.mainWaitMsPerS.toFixed(0)} ms, ${b5.gcMsPerS.toFixed(0)} ms, ${fmtLoop(b5.loopP99Ms, 1)}/${fmtLoop(b5.loopMaxMs, 1)} ms)` : ''}`,
    );
    if (g5n)
      console.log(
        `    with Nagle on the devices: ${g5n.commitsPerSec.toFixed(0)} commits/s, PUBACK p50/p99 ${g5n.p50.toFixed(2)}/${g5n.p99.toFixed(2)} ms (each publish waits for the previous PUBACK to carry the TCP ACK)`,
      );
    console.log(
      `  bytes written per payload byte at 5,000 msgs/s: ${g5.writePerPayload.toFixed(2)} = log ${g5.logPerPayload.toFixed(2)} + tables ${g5.tablesPerPayload.toFixed(2)} + export ${g5.exportPerPayload.toFixed(2)} (target <= 2.5)`,
    );
    console.log(
      `  CPU per message at 5,000 msgs/s: ${g5.cpuUsPerMsg.toFixed(1)} us${b5 ? ` (bare aedes ${b5.cpuUsPerMsg.toFixed(1)} us)` : ''} (target <= 20)`,
    );
  }
  if (gIdle) {
    const mib = (i: typeof gIdle): string => (idleRss(i.phases) / MiB).toFixed(0);
    console.log(`  idle RSS after start: ${mib(gIdle)} MiB${bIdle ? ` (bare aedes ${mib(bIdle)} MiB)` : ''} (target <= 64)`);
    const settled = (i: typeof gIdle): string | undefined => {
      const p = i.phases.find(([name]) => name.startsWith('settled'));
      return p ? `${(p[1].rss / MiB).toFixed(0)} MiB (${p[0]})` : undefined;
    };
    if (settled(gIdle))
      console.log(
        `  idle RSS once V8 gave back its young generation: ${settled(gIdle)}${bIdle && settled(bIdle) ? `, bare aedes ${settled(bIdle)}` : ''} (target <= 64)`,
      );
    console.log(
      `  idle CPU after start: ${gIdle.idleCpuMsPerS.toFixed(1)} ms per second${bIdle ? ` (bare aedes ${bIdle.idleCpuMsPerS.toFixed(1)})` : ''} (not in the issue's table: what an idle gateway takes from a Pi)`,
    );
    const after = (i: IdleFigures | undefined): string =>
      i?.afterRuns ? `${(i.afterRuns.rss / MiB).toFixed(0)} MiB (${i.afterRuns.waitedS} s after the last run)` : '';
    if (gIdle.afterRuns)
      console.log(
        `  idle RSS after the runs, once idle again: ${after(gIdle)}${bIdle?.afterRuns ? `, bare aedes ${after(bIdle)}` : ''} (not in the issue's table: what a gateway keeps after traffic)`,
      );
  }
  if (gMax && bMax)
    console.log(
      `  flat-out QoS 1: ${gMax.msgsPerSec} vs bare ${bMax.msgsPerSec} msgs/s = ${(gMax.msgsPerSec / bMax.msgsPerSec).toFixed(2)}x (target >= 0.7), peak RSS ${gMax.peakRssMiB.toFixed(0)} MiB`,
    );
}
