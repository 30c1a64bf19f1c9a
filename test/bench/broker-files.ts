// What the broker's retained-message file costs (gateway/broker/retained-file.ts): 50,000 retained
// topics, then 100 changes a second for 30 s. Prints the bytes this process wrote a second
// (/proc/self/io wchar: every file write, whatever the version), the longest event-loop block
// (perf_hooks monitorEventLoopDelay) and its p99, and the time load() takes at start with that set.
// The same bench runs against another built checkout (its RetainedFile: note/load/close only), to
// compare with the version before the journal:
//
//   git worktree add --detach ../gh-base <commit> && ln -s "$PWD/node_modules" ../gh-base/
//   (cd ../gh-base && npm run -s build) && npm run -s build
//   node dist/test/bench/broker-files.js [../gh-base] [topics, default 50000] [seconds, default 30]
import { mkdtempSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pino from 'pino';

interface RetainedLike {
  note(p: { topic: string; payload: Buffer; qos: number }): void;
  load(): Promise<unknown[]>;
  close(): Promise<void>;
}
type Ctor = new (file: string, log: pino.Logger) => RetainedLike;

const [checkout, topicsArg, secondsArg] = process.argv.slice(2);
const TOPICS = Number(topicsArg ?? 50_000);
const SECONDS = Number(secondsArg ?? 30);
const RATE = 100;

const root = checkout ? resolve(checkout, 'dist') : resolve(import.meta.dirname, '../..');
const { RetainedFile } = (await import(pathToFileURL(join(root, 'gateway/broker/retained-file.js')).href)) as { RetainedFile: Ctor };
const log = pino({ level: 'silent' });

function wchar(): number {
  const m = /wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m?.[1] ?? 0);
}

const topic = (i: number): string => `site/${i % 50}/dev/${i}/status`;
const payload = (i: number, v: number): Buffer => Buffer.from(`{"s":"on","v":${v},"i":${i}}`);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-files-'));
const file = join(dir, 'mqtt-retained.json');
try {
  // the set, written once (the broker's first run with it), then stopped
  const first = new RetainedFile(file, log);
  await first.load();
  for (let i = 0; i < TOPICS; i++) first.note({ topic: topic(i), payload: payload(i, 0), qos: 1 });
  await first.close();
  const size = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);

  // start: load the set
  const t0 = performance.now();
  const rf = new RetainedFile(file, log);
  const loaded = (await rf.load()) as Array<{ topic: string; payload: Buffer; qos: number }>;
  // the broker stores each loaded message in aedes: the version before the journal noted them all
  // again there (its mirror was filled that way); this one holds them already (no change)
  if (!('journal' in rf)) for (const p of loaded) rf.note(p);
  const loadMs = performance.now() - t0;

  // 100 changes a second for SECONDS s, the event loop watched, and the longest JSON.stringify call
  // timed (the whole set's in the version that rewrites the file: one synchronous block)
  const stringify = JSON.stringify;
  let longestStringifyMs = 0;
  JSON.stringify = ((...args: Parameters<typeof stringify>) => {
    const s0 = performance.now();
    const out = stringify(...args);
    longestStringifyMs = Math.max(longestStringifyMs, performance.now() - s0);
    return out;
  }) as typeof stringify;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const w0 = wchar();
  const started = performance.now();
  let n = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * RATE);
      while (n < due) {
        const i = (n * 7919) % TOPICS;
        rf.note({ topic: topic(i), payload: payload(i, n + 1), qos: 1 });
        n++;
      }
      if (performance.now() - started >= SECONDS * 1000) {
        clearInterval(timer);
        done();
      }
    }, 10);
  });
  // the last changes' write (within a second, or the paced one)
  await new Promise((r) => setTimeout(r, 1500));
  const elapsed = (performance.now() - started) / 1000;
  const written = wchar() - w0;
  h.disable();
  JSON.stringify = stringify;
  // the stop: the final write of the set (a compaction of the journal in this version)
  const hc = monitorEventLoopDelay({ resolution: 1 });
  hc.enable();
  const t1 = performance.now();
  await rf.close();
  const closeMs = performance.now() - t1;
  hc.disable();
  const result = {
    version: checkout || 'this checkout',
    topics: TOPICS,
    loaded: loaded.length,
    filesBytes: size,
    loadMs: Math.round(loadMs),
    changes: n,
    seconds: Math.round(elapsed * 10) / 10,
    bytesWrittenPerSecond: Math.round(written / elapsed),
    eventLoopMaxMs: Math.round(h.max / 1e5) / 10,
    eventLoopP99Ms: Math.round(h.percentile(99) / 1e5) / 10,
    longestStringifyMs: Math.round(longestStringifyMs * 10) / 10,
    closeMs: Math.round(closeMs),
    closeEventLoopMaxMs: Math.round(hc.max / 1e5) / 10,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
