// Rotation test helpers: Debian's logrotate, a real writer process (test/helpers/log-writer.ts),
// and the exactly-once check of a stream against the lines on disk.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { which, repoRoot, compiled } from './index.js';

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
  // 'close', not 'exit': 'exit' can come before the last stdout line ('done') has been read.
  const done = once(proc, 'close').then(([code, signal]) => {
    assert.ok(sawDone, `writer did not finish (code ${String(code)}, signal ${String(signal)})`);
    // A postrotate SIGHUP can land while the finished writer exits (Node restores the default
    // action, which ends the process, during its exit): every line was written by then.
    if (signal !== 'SIGHUP') assert.equal(code, 0, 'writer exited with an error');
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

/**
 * The config lines of a gateway tailing `paths` (a file or glob) into a stream `logs` with no
 * exporter (the stream keeps every line for the exactly-once check): a file source `app` with
 * `sourceOptions` (e.g. 'scanIntervalMs: 100'), the stream, a rule routing file/app to it.
 */
export function tailIntoLogsYaml(paths: string, sourceOptions = ''): string {
  return [
    'sources:',
    `  - { type: file, name: app, paths: [${JSON.stringify(paths)}], initialPosition: start_of_file${sourceOptions ? `, ${sourceOptions}` : ''} }`,
    'streams:',
    '  logs: { maxBytes: 1073741824, onFull: reject }',
    'rules:',
    '  version: 1',
    '  rules:',
    '    - { name: logs, sql: "SELECT * FROM \'file/app\'", actions: [{ stream: { name: logs } }] }',
    'exporters: []',
    '',
  ].join('\n');
}
