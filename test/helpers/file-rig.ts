// A file source over real files and a real store (through the small test intake of
// store-intake.ts), for the file source's integration tests: options relative to a temp folder,
// restart with the same store, the registry and the log lines it wrote, and a switch to make the
// intake stop accepting writes (as a full disk does) so the reader lags behind deterministically.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, truncateSync } from 'node:fs';
import { copyFile, mkdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { tempDir, testDeps, waitUntil } from './index.js';
import { storeIntake, readAll, type StoreIntake } from './store-intake.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { GatehouseError } from '../../core/errors.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema, type FileSourceOptionsInput } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';

export interface FileRig {
  dir: string;
  store: LocalStreams;
  intake: StoreIntake;
  source: FileSource;
  registry: Registry;
  /** Every log record the sources wrote (JSON objects, as pino writes them). */
  logs: Array<Record<string, unknown>>;
  /** Called with each log record as it is written (synchronously, inside the source's call). */
  onLog: ((rec: Record<string, unknown>) => void) | undefined;
  /** While false, the intake reports it cannot take writes: the source pauses reading. */
  accepting: boolean;
  /** Run at the test's end before the source stops (release what a failed test left waiting). */
  beforeStop: Array<() => void>;
  lines(): Promise<string[]>;
  restart(extra?: Partial<FileSourceOptionsInput>): Promise<void>;
}

export async function fileRig(t: TestContext, options: Partial<FileSourceOptionsInput> & { paths?: string[] }, dir?: string): Promise<FileRig> {
  dir ??= await tempDir(t, 'gatehouse-tail-');
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, testDeps());
  await store.defineStream({ name: 'logs', maxBytes: 1 << 30, onFull: 'reject' });
  const intake = storeIntake(store, 'logs', 'app');
  const registry = new Registry();
  const logs: Array<Record<string, unknown>> = [];
  let rig: FileRig | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.length === 0) continue;
        const rec = JSON.parse(line) as Record<string, unknown>;
        logs.push(rec);
        rig?.onLog?.(rec);
      }
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const make = (extra: Partial<FileSourceOptionsInput> = {}): FileSource =>
    new FileSource(
      fileSourceSchema.parse({
        type: 'file',
        name: 'app',
        initialPosition: 'start_of_file',
        scanIntervalMs: 50,
        rotateWaitMs: 200,
        ...options,
        ...extra,
        // Relative patterns are below the test's folder.
        paths: (extra.paths ?? options.paths ?? ['logs/*.log']).map((p) => join(dir!, p)),
      }),
      { logger, registry, dataDir: dir! },
    );
  const r: FileRig = {
    dir,
    store,
    intake,
    source: make(),
    registry,
    logs,
    onLog: undefined,
    accepting: true,
    beforeStop: [],
    lines: async () => (await readAll(store, 'logs')).map((rec) => rec.payload.toString()),
    restart: async (extra) => {
      await r.source.stop();
      r.source = make(extra);
      await r.source.start(intake);
    },
  };
  rig = r;
  intake.accepting = () => r.accepting;
  await mkdir(join(dir, 'logs'), { recursive: true });
  t.after(async () => {
    for (const f of r.beforeStop) f();
    await r.source.stop();
    await store.close();
  });
  return r;
}

export function numbered(from: number, to: number, prefix = 'line'): string {
  let s = '';
  for (let i = from; i < to; i++) s += `${prefix} ${i}\n`;
  return s;
}

export const range = (from: number, to: number, prefix = 'line'): string[] => Array.from({ length: to - from }, (_, i) => `${prefix} ${from + i}`);

export async function waitLines(r: FileRig, n: number, what: string, timeoutMs = 10_000): Promise<string[]> {
  return waitUntil(
    async () => {
      const l = await r.lines();
      return l.length >= n ? l : undefined;
    },
    what,
    timeoutMs,
    20,
  );
}

/** Wait until every line of `expected` is in the stream (duplicates allowed: a rewind reads again). */
export async function allThere(r: FileRig, expected: string[], what: string): Promise<void> {
  let missing: string[] = expected;
  await waitUntil(
    async () => {
      const seen = new Set(await r.lines());
      missing = expected.filter((l) => !seen.has(l));
      return missing.length === 0;
    },
    what,
    10_000,
    20,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; missing ${missing.length}: ${missing.slice(0, 3).join(', ')} .. ${missing.slice(-3).join(', ')}`);
  });
}

/**
 * The rig's intake with a switch, as a full `reject` stream behaves: while `hold` is set, submits
 * wait (an append waiting for space), and `refuse()` fails every submit waiting
 * (GH_STREAM_FULL, as after appendTimeoutMs). Offsets are committed as usual.
 */
export interface HoldingIntake {
  intake: Intake;
  hold: boolean;
  /** Submits waiting now. */
  readonly held: number;
  /** Submits refused so far. */
  readonly refused: number;
  refuse(): void;
}

export function holdingIntake(r: FileRig): HoldingIntake {
  const waiting: Array<(err: Error) => void> = [];
  let refused = 0;
  const h: HoldingIntake = {
    hold: false,
    get held() {
      return waiting.length;
    },
    get refused() {
      return refused;
    },
    refuse() {
      for (const reject of waiting.splice(0)) {
        refused++;
        reject(new GatehouseError('GH_STREAM_FULL', "test: local stream 'logs' is full"));
      }
    },
    intake: {
      ...r.intake,
      submit: (m) => (h.hold ? new Promise<void>((_, reject) => waiting.push(reject)) : r.intake.submit(m)),
    },
  };
  // A test that failed while submits wait: the source could not stop (it waits for them).
  r.beforeStop.push(() => {
    h.hold = false;
    h.refuse();
  });
  return h;
}

/** Each expected line exactly once, nothing else. */
export function expectExactly(lines: string[], expected: string[]): void {
  const seen = new Map<string, number>();
  for (const l of lines) seen.set(l, (seen.get(l) ?? 0) + 1);
  const dups = [...seen].filter(([, n]) => n > 1).map(([l]) => l);
  const missing = expected.filter((l) => !seen.has(l));
  assert.deepEqual({ dups: dups.slice(0, 5), missing: missing.slice(0, 5), count: lines.length }, { dups: [], missing: [], count: expected.length });
}

export interface FileStatus {
  path: string;
  identity: string;
  state: string;
  offset: number;
  size: number;
  lagBytes: number;
  truncations: number;
  /** Bytes read from the file (held bytes of a line without its newline included). */
  bytesRead: number;
  rotations: number;
  /** Times the file was opened (reopened after giving its slot up). */
  opens: number;
}

export function fileStatuses(r: FileRig): FileStatus[] {
  return (r.source.status().details?.files ?? []) as FileStatus[];
}

/** A path in the rig's logs folder (where its default glob logs/*.log looks). */
export const logPath = (r: FileRig, name: string): string => join(r.dir, 'logs', name);

/** logrotate's copytruncate, in its two steps: `file` copied to `copy`, then truncated in place. */
export async function copytruncate(file: string, copy: string): Promise<void> {
  await copyFile(file, copy);
  await truncate(file, 0);
}

/** copytruncate as one synchronous block (the source, in this process, gets no turn in between). */
export function copytruncateSync(file: string, copy: string): void {
  copyFileSync(file, copy);
  truncateSync(file, 0);
}
