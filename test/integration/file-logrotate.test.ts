// Rotation by Debian's logrotate itself (create and copytruncate) while a real writer process
// appends at a steady pace and the file source reads: every line on disk is in the stream exactly
// once. With copytruncate, lines written between logrotate's copy and its truncate exist in no
// file (a known limit of copytruncate); they are counted, not blamed on the reader.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { which, tempDir, testDeps, waitUntil, repoRoot, compiled } from '../helpers/index.js';
import { storeIntake, readAll } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';

/** The logrotate binary (Debian installs it in /usr/sbin, often not on a user's PATH), or undefined. */
export function logrotateBinary(): string | undefined {
  return which('logrotate') ?? (existsSync('/usr/sbin/logrotate') ? '/usr/sbin/logrotate' : undefined);
}

export function writerScript(): { cmd: string; args: string[] } {
  if (compiled) return { cmd: process.execPath, args: [join(repoRoot, 'dist', 'test', 'helpers', 'log-writer.js')] };
  return { cmd: process.execPath, args: ['--import', 'tsx', join(repoRoot, 'test', 'helpers', 'log-writer.ts')] };
}

/** Start the writer; resolves once it runs, with a promise of its end. */
export async function startWriter(t: TestContext, file: string, count: number, perTick = 50): Promise<{ pid: number; done: Promise<void> }> {
  const { cmd, args } = writerScript();
  const proc = spawn(cmd, [...args, file, String(count), String(perTick)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const rl = createInterface({ input: proc.stdout! });
  let sawDone = false;
  const ready = new Promise<void>((resolve) => rl.on('line', (l) => (l === 'ready' ? resolve() : l.startsWith('done') ? (sawDone = true) : undefined)));
  await ready;
  const done = once(proc, 'exit').then(([code]) => {
    assert.equal(code, 0, 'writer exited with an error');
    assert.ok(sawDone, 'writer did not finish');
  });
  return { pid: proc.pid!, done };
}

export async function writeLogrotateConf(dir: string, file: string, mode: 'create' | 'copytruncate', writerPid: number): Promise<string> {
  const conf = join(dir, 'logrotate.conf');
  const post = mode === 'create' ? `  postrotate\n    kill -HUP ${writerPid} 2>/dev/null || true\n  endscript\n` : '';
  await writeFile(conf, `${file} {\n  rotate 1000\n  ${mode}\n  missingok\n  nocompress\n${post}}\n`);
  return conf;
}

export function rotate(bin: string, dir: string, conf: string): void {
  execFileSync(bin, ['-f', '-s', join(dir, 'logrotate.state'), conf], { stdio: 'pipe' });
}

/** Every line in the log file and its rotated copies. */
export async function linesOnDisk(logs: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(logs)) {
    const text = await readFile(join(logs, name), 'utf8');
    out.push(...text.split('\n').filter((l) => l.length > 0));
  }
  return out;
}

export function duplicatesAndMissing(stream: string[], expected: string[]): { duplicates: number; missing: string[]; extra: string[] } {
  const seen = new Map<string, number>();
  for (const l of stream) seen.set(l, (seen.get(l) ?? 0) + 1);
  let duplicates = 0;
  for (const n of seen.values()) if (n > 1) duplicates += n - 1;
  const want = new Set(expected);
  return { duplicates, missing: expected.filter((l) => !seen.has(l)), extra: [...seen.keys()].filter((l) => !want.has(l)) };
}

for (const [mode, pattern] of [
  ['create', '*.log'],
  ['copytruncate', '*.log'],
  ['copytruncate', 'app.log*'],
] as const) {
  test(`logrotate ${mode} (glob ${pattern}) under steady writes: every line on disk is read exactly once`, async (t) => {
    const bin = logrotateBinary();
    if (!bin) return t.skip("needs 'logrotate': install the Debian package 'logrotate' (apt-get install logrotate)");
    const dir = await tempDir(t, 'gatehouse-logrotate-');
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'app.log');
    await writeFile(file, '');
    const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, testDeps());
    await store.defineStream({ name: 'logs', maxBytes: 1 << 30, onFull: 'reject' });
    const intake = storeIntake(store, 'logs', 'app');
    const source = new FileSource(fileSourceSchema.parse({ type: 'file', name: 'app', paths: [join(logs, pattern)], initialPosition: 'start_of_file', scanIntervalMs: 100, rotateWaitMs: 500 }), { ...testDeps(), dataDir: dir });
    t.after(async () => {
      await source.stop();
      await store.close();
    });
    await source.start(intake);
    const total = 40_000;
    const writer = await startWriter(t, file, total);
    const conf = await writeLogrotateConf(dir, file, mode, writer.pid);
    let rotations = 0;
    for (let r = 1; r <= 6; r++) {
      const target = Math.floor((total * r) / 7);
      // Rotate each time the reader got past the next seventh of the lines (events, not sleeps).
      await waitUntil(async () => (await store.info('logs')).lastSeq >= target || undefined, `reader at ${target}`, 60_000, 20);
      rotate(bin, dir, conf);
      rotations++;
    }
    await writer.done;
    const onDisk = await linesOnDisk(logs);
    const written = Array.from({ length: total }, (_, i) => `w ${i} ${'x'.repeat(60)}`);
    await waitUntil(async () => ((await store.info('logs')).lastSeq >= onDisk.length ? true : undefined), `all ${onDisk.length} lines on disk read`, 60_000, 50);
    await source.stop();
    const streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
    const check = duplicatesAndMissing(streamed, onDisk);
    const lostByLogrotate = written.length - new Set(onDisk).size;
    t.diagnostic(`${mode}: ${rotations} rotations, ${total} written, ${onDisk.length} on disk (${lostByLogrotate} lost by copytruncate between copy and truncate), ${streamed.length} streamed, ${check.duplicates} duplicates`);
    assert.deepEqual({ duplicates: check.duplicates, missing: check.missing.slice(0, 5), extra: check.extra.slice(0, 5) }, { duplicates: 0, missing: [], extra: [] });
    if (mode === 'create') assert.equal(lostByLogrotate, 0);
    const st = source.status().details!;
    assert.equal((st.vanished as unknown[]).length, 0);
  });
}
