// What the retained file (gateway/broker/retained-file.ts) costs while the gateway runs on a large
// retained set: its memory once the set is held, and the journal batch that writes a set changed at
// once (N retained messages noted in one go, timed: the event loop is blocked for all of it; the
// batch, FLUSH_MS after the first note so that it falls inside its measurement, timed from then to
// its end, to the 5 ms its end is polled at) and
// the snapshot written at stop (state-journal.ts), each with its peak RSS (VmHWM, reset before it through /proc/self/clear_refs),
// its time and the event loop's longest stall meanwhile (monitorEventLoopDelay). Each build is run
// in a child of its own (node --expose-gc), builds alternated run by run, medians printed. Nothing
// is asserted: a benchmark (not in CI).
//
//   npm run -s build && node dist/test/bench/state-file-snapshot.js [other/checkout/dist ...]
//   SNAPSHOT_MESSAGES=20000 SNAPSHOT_BYTES=1024 SNAPSHOT_RUNS=3
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';

const MESSAGES = Number(process.env.SNAPSHOT_MESSAGES ?? 20_000);
const BYTES = Number(process.env.SNAPSHOT_BYTES ?? 1024);
const RUNS = Number(process.env.SNAPSHOT_RUNS ?? 3);
/** The batch's delay: longer than the notes take (the batch's work is measured, not done before). */
const FLUSH_MS = 2000;
const here = dirname(fileURLToPath(import.meta.url));
/** This build's dist/ (the bench runs from dist/test/bench/). */
const ownDist = resolve(here, '../..');

interface Sample {
  /** The N notes (synchronous: the event loop is blocked for all of it). */
  noteMs: number;
  heldAnonMiB: number;
  heldHeapMiB: number;
  flushMs: number;
  flushPeakMiB: number;
  flushStallMs: number;
  snapshotMs: number;
  snapshotPeakMiB: number;
  snapshotStallMs: number;
  snapshotMiB: number;
}

async function status(key: string): Promise<number> {
  const text = await readFile('/proc/self/status', 'utf8');
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) / 1024;
}

/** `phase` timed, with the peak RSS and the event loop's longest stall while it ran. */
async function measured(phase: () => Promise<void>): Promise<{ ms: number; peakMiB: number; stallMs: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await writeFile('/proc/self/clear_refs', '5'); // VmHWM back to the current RSS
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  await phase();
  const ms = performance.now() - t0;
  h.disable();
  return { ms, peakMiB: await status('VmHWM'), stallMs: h.max / 1e6 };
}

/** One run in this process (a child): the RetainedFile of the build at `dist`. */
async function child(dist: string): Promise<Sample> {
  // (a build chosen at run time: its module's type is this build's)
  const { RetainedFile } = (await import(
    pathToFileURL(join(dist, 'gateway/broker/retained-file.js')).href
  )) as typeof import('../../gateway/broker/retained-file.js');
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-snapshot-'));
  try {
    const rf = new RetainedFile(join(dir, 'mqtt-retained.json'), pino({ level: 'silent' }), undefined, FLUSH_MS);
    await rf.load();
    const written = (): number => rf.journal.written.batches;
    // the set arrives at once (a start of every device after an outage): one batch of all of it
    const t0 = performance.now();
    for (let k = 0; k < MESSAGES; k++) {
      const head = `{"d":${k % 10},"s":${k},"v":${(k % 97) / 7},"pad":"`;
      rf.note({ topic: `ret/${k % 40}/${k}`, payload: Buffer.from(`${head}${'x'.repeat(Math.max(0, BYTES - head.length - 2))}"}`), qos: 1 });
    }
    const noteMs = performance.now() - t0;
    // the batch is written flushDelayMs after the first note: waited for by its count
    if (noteMs > FLUSH_MS / 2) throw new Error(`the notes took ${noteMs.toFixed(0)} ms: FLUSH_MS too short`);
    let end = 0;
    const flush = await measured(async () => {
      while (written() === 0) await new Promise((r) => setTimeout(r, 5));
      end = performance.now();
    });
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const heldAnonMiB = await status('RssAnon');
    const heldHeapMiB = process.memoryUsage().heapUsed / 1024 / 1024;
    const snap = await measured(() => rf.close());
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(join(dir, 'mqtt-retained.json')));
    return {
      noteMs,
      heldAnonMiB,
      heldHeapMiB,
      flushMs: end - (t0 + FLUSH_MS),
      flushPeakMiB: flush.peakMiB,
      flushStallMs: flush.stallMs,
      snapshotMs: snap.ms,
      snapshotPeakMiB: snap.peakMiB,
      snapshotStallMs: snap.stallMs,
      snapshotMiB: size / 1024 / 1024,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.env.SNAPSHOT_CHILD) {
  process.stdout.write(JSON.stringify(await child(process.env.SNAPSHOT_CHILD)));
} else {
  const builds = [ownDist, ...process.argv.slice(2).map((d) => resolve(d))];
  const results = new Map<string, Sample[]>(builds.map((b) => [b, []]));
  for (let r = 0; r < RUNS; r++)
    for (const dist of builds) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=8', fileURLToPath(import.meta.url)], {
        env: { ...process.env, SNAPSHOT_CHILD: dist, MALLOC_MMAP_THRESHOLD_: '131072' },
        encoding: 'utf8',
      });
      results.get(dist)!.push(JSON.parse(out) as Sample);
    }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(`${MESSAGES} retained messages of ${BYTES} bytes, ${RUNS} runs per build (medians; stall: the event loop's longest delay)`);
  console.log(
    '| build | notes: ms | held: anon MiB | held: heap MiB | batch of all: ms | peak RSS MiB | stall ms | snapshot: ms | peak RSS MiB | stall ms | file MiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [dist, s] of results) {
    const m = (f: (x: Sample) => number, digits = 0): string => median(s.map(f)).toFixed(digits);
    console.log(
      `| ${dist} | ${m((x) => x.noteMs)} | ${m((x) => x.heldAnonMiB)} | ${m((x) => x.heldHeapMiB)} | ${m((x) => x.flushMs)} | ${m((x) => x.flushPeakMiB)} | ${m((x) => x.flushStallMs, 1)} | ${m((x) => x.snapshotMs)} | ${m((x) => x.snapshotPeakMiB)} | ${m((x) => x.snapshotStallMs, 1)} | ${m((x) => x.snapshotMiB, 1)} |`,
    );
  }
}
