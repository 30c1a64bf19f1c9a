// One exporter over a real store, for the destination tests that stage a setup fault (wrong key,
// URL, endpoint): a stream `up`, an exporter `cloud` with short backoffs, records appended, and
// the check that a fault no record is to blame for holds the backlog (nothing dead-lettered, the
// checkpoint where it was, a last error saying what to fix).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { tempDir, testDeps, waitUntil } from './index.js';
import type { RuntimeDeps } from '../../core/deps.js';

/** A store with the stream `up`, closed after the test. */
export async function openStreams(t: TestContext): Promise<LocalStreams> {
  const dir = await tempDir(t);
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  t.after(() => streams.close());
  await streams.defineStream({ name: 'up', maxBytes: 16 * 1024 * 1024, onFull: 'reject' });
  return streams;
}

/** The exporter `cloud` of stream `up` to `destination`, with short backoffs (or `overrides` of its options); stopped after the test. */
export async function startExporter(
  t: TestContext,
  streams: LocalStreams,
  destination: Record<string, unknown>,
  deps: RuntimeDeps = testDeps(),
  overrides: Record<string, unknown> = {},
): Promise<Exporter> {
  const options = parseExporterOptions({
    name: 'cloud',
    stream: 'up',
    destination,
    batch: { maxRecords: 5, lingerMs: 10 },
    backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 100 },
    ...overrides,
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  await exporter.start();
  t.after(() => exporter.stop());
  return exporter;
}

/** n records `{"d":"d1","i":i}` on dev/d1/data. */
export async function append(streams: LocalStreams, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await streams.append('up', { topic: 'dev/d1/data', payload: Buffer.from(JSON.stringify({ d: 'd1', i })), receivedAt: Date.now() });
}

/**
 * Wait for several failed sends, then check that nothing was dead-lettered and the backlog of n
 * records is whole; the last error matches `error` and says what to check (`fix`).
 */
export async function assertHeld(exporter: Exporter, streams: LocalStreams, n: number, error: RegExp, fix = /Fix:|hint|check/i): Promise<void> {
  // Either several failed sends (held) or a dead letter (the bug): whichever comes first.
  await waitUntil(() => exporter.status().retries >= 3 * n || exporter.status().deadLetters > 0, 'several failed sends', 15_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0, `nothing dead-lettered (last error: ${st.lastError?.message})`);
  assert.equal(streams.info('up-dlq').lastSeq, 0, 'the dead-letter stream is empty');
  assert.equal(st.lastExportedSeq, 0, 'the checkpoint held');
  assert.equal(st.backlog.records, n);
  assert.match(st.lastError?.message ?? '', error);
  assert.match(st.lastError?.message ?? '', fix, 'the last error says what to check');
  // Waiting for someone to fix the setup, not for the destination to return: the normal pace (maxMs).
  assert.equal(st.outage, false, 'a setup fault is retried at the normal pace, not as an outage');
}

/**
 * Every record of a range arrived (duplicates allowed: at least once): the distinct values of
 * `got` (a seq or an `i` per message received) are exactly first..first + n - 1.
 */
export function assertAll(got: number[], n: number, what: string, first = 1): void {
  assert.deepEqual(
    [...new Set(got)].sort((a, b) => a - b),
    [...Array(n).keys()].map((i) => i + first),
    `${what}: every record arrived`,
  );
}

/** A file in a temp dir holding `password` and a newline (as an editor leaves it), for network.proxy.passwordFile. */
export async function passwordFile(t: TestContext, password: string, name = 'proxy-password'): Promise<string> {
  const file = join(await tempDir(t), name);
  await writeFile(file, `${password}\n`);
  return file;
}
