// The file exporter end to end on real parts: the real LevelDB store (gateway/store), the real
// exporter loop and real files (read back with fs and zlib).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import type { RuntimeDeps } from '../../core/deps.js';

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function readLines(dir: string): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const f of await listFiles(dir)) {
    let buf = await readFile(join(dir, f));
    if (f.endsWith('.gz')) buf = gunzipSync(buf);
    for (const l of buf.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
  }
  return lines;
}

async function openStore(path: string, deps: RuntimeDeps): Promise<LocalStreams> {
  const s = await openLocalStreams({ path, durability: 'os' }, deps);
  await s.defineStream({ name: 'archive', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  return s;
}

function exporterFor(streams: LocalStreams, deps: RuntimeDeps, dest: Record<string, unknown>, dataDir: string) {
  const options = parseExporterOptions({ name: 'files', stream: 'archive', destination: dest, batch: { maxRecords: 50, lingerMs: 10 } });
  const destination = createDestination(options.destination, { ...deps, dataDir });
  return createExporter(options, { ...deps, streams, destination });
}

test('file export: NDJSON lines under UTC hour folders, rotation by size, default dir', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  let clock = Date.UTC(2024, 4, 6, 7, 30, 0);
  deps.now = () => clock;
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  const exporter = exporterFor(streams, deps, { type: 'file', maxFileBytes: 2048, durability: 'fsync' }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  const N = 200;
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      streams.append('archive', {
        topic: `fleet/truck${i % 4}/engine`,
        payload: Buffer.from(JSON.stringify({ i, temp: 90 + (i % 10) })),
        receivedAt: clock,
        key: `truck${i % 4}`,
      }),
    ),
  );
  await waitUntil(() => exporter.status().lastExportedSeq === N, 'all exported');
  // The next hour goes to a new folder.
  clock = Date.UTC(2024, 4, 6, 8, 0, 1);
  await streams.append('archive', { topic: 'fleet/x', payload: Buffer.from('not json \u0000'), receivedAt: clock });
  await waitUntil(() => exporter.status().lastExportedSeq === N + 1, 'last exported');
  await exporter.stop();

  const exportDir = join(dataDir, 'export');
  const files = await listFiles(exportDir);
  assert.ok(
    files.every((f) => /^2024\/05\/06\/0[78]\/archive-\d+-\d+\.ndjson$/.test(f)),
    files.join(),
  );
  const hour7 = files.filter((f) => f.startsWith('2024/05/06/07/'));
  assert.ok(hour7.length >= 3, `size rotation made ${hour7.length} files`);
  for (const f of hour7.slice(0, -1)) {
    const size = (await stat(join(exportDir, f))).size;
    assert.ok(size >= 2048 && size < 2048 + 50 * 200, `rotated file size ${size}`);
  }
  assert.equal(files.filter((f) => f.startsWith('2024/05/06/08/')).length, 1);

  const lines = await readLines(exportDir);
  assert.equal(lines.length, N + 1);
  assert.deepEqual(
    lines.map((l) => l.seq),
    Array.from({ length: N + 1 }, (_, i) => i + 1),
    'in order, no gaps',
  );
  const first = lines[0]!;
  assert.equal(first.id, 'archive:1');
  assert.equal(first.stream, 'archive');
  assert.equal(typeof first.topic, 'string');
  assert.equal(typeof first.receivedAt, 'number');
  assert.match(String(first.key), /^truck\d$/);
  assert.equal(typeof (first.payload as { i: number }).i, 'number');
  assert.equal(lines[N]!.payloadText, 'not json \u0000', 'valid UTF-8 that is not JSON goes as payloadText');
  assert.equal(streams.info('archive').records, 0, 'exported data is reclaimed');
});

test('file export: gzip files are readable with zlib, rotation by age', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  let clock = Date.UTC(2024, 0, 1, 0, 0, 0);
  deps.now = () => clock;
  // A file's age is measured on the monotonic clock (an NTP step of the wall clock does not age it).
  let mono = 0;
  deps.monotonic = () => mono;
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  const out = join(dataDir, 'out');
  const exporter = exporterFor(streams, deps, { type: 'file', dir: out, gzip: true, maxFileAgeMs: 60_000 }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  for (let i = 1; i <= 30; i++) await streams.append('archive', { topic: 't', payload: Buffer.from(`{"n":${i}}`), receivedAt: clock });
  await waitUntil(() => exporter.status().lastExportedSeq === 30, 'first part exported');
  clock += 61_000; // an NTP step forward: not an age
  for (let i = 31; i <= 35; i++) await streams.append('archive', { topic: 't', payload: Buffer.from(`{"n":${i}}`), receivedAt: clock });
  await waitUntil(() => exporter.status().lastExportedSeq === 35, 'written after the step');
  assert.equal((await listFiles(out)).length, 1, 'a wall-clock step does not rotate the file');
  mono += 61_000; // the open file is now too old: the next batch opens a new one
  for (let i = 36; i <= 40; i++) await streams.append('archive', { topic: 't', payload: Buffer.from(`{"n":${i}}`), receivedAt: clock });
  await waitUntil(() => exporter.status().lastExportedSeq === 40, 'second part exported');
  // Read while the last file is still open: each batch is a complete gzip member.
  const files = await listFiles(out);
  assert.ok(files.length >= 2, `age rotation: ${files.join()}`);
  assert.ok(files.every((f) => f.endsWith('.ndjson.gz') && f.startsWith('2024/01/01/00/')));
  const lines = await readLines(out);
  assert.deepEqual(
    lines.map((l) => (l.payload as { n: number }).n),
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
});

test('file export: restart resumes from the checkpoint after reopening the store (no gaps)', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  const dbPath = join(dataDir, 'db');
  const out = join(dataDir, 'out');
  let streams = await openStore(dbPath, deps);
  let exporter = exporterFor(streams, deps, { type: 'file', dir: out }, dataDir);
  await exporter.start();
  for (let i = 1; i <= 120; i++) await streams.append('archive', { topic: 't', payload: Buffer.from(`{"n":${i}}`), receivedAt: Date.now() });
  await waitUntil(() => exporter.status().lastExportedSeq === 120, 'first run exported');
  await exporter.stop();
  // Records appended while the exporter is down.
  for (let i = 121; i <= 150; i++) await streams.append('archive', { topic: 't', payload: Buffer.from(`{"n":${i}}`), receivedAt: Date.now() });
  await streams.close();

  streams = await openStore(dbPath, deps);
  t.after(() => streams.close());
  assert.equal(await streams.getCheckpoint('archive', 'files'), 120, 'checkpoint survived the reopen');
  exporter = exporterFor(streams, deps, { type: 'file', dir: out }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === 150, 'second run exported');
  const seqs = (await readLines(out)).map((l) => l.seq as number);
  const unique = new Set(seqs);
  assert.equal(unique.size, 150, 'every record exported');
  assert.equal(seqs.length - unique.size, 0, 'a clean stop leaves no duplicates');
  assert.deepEqual(
    [...unique].sort((a, b) => a - b),
    Array.from({ length: 150 }, (_, i) => i + 1),
  );
});

test('file export: a bad destination config is refused with a clear error', () => {
  assert.throws(
    () => createDestination({ type: 'file', maxFileBytes: 'big' } as { type: 'file' }, testDeps()),
    (err: unknown) => {
      assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'));
      assert.match(err.message, /destination\.maxFileBytes: .*expected number/);
      return true;
    },
  );
});

test('file export: an unwritable folder is a retryable error, never a crash or a skipped record', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  // A regular file where the output folder's hour partition should go: mkdir fails.
  const out = join(dataDir, 'out');
  const destination = createDestination({ type: 'file', dir: out } as { type: 'file' }, deps);
  await destination.start();
  const { writeFile, rm } = await import('node:fs/promises');
  const now = Date.now();
  const { partitionOf } = await import('../../gateway/upstream/destinations/file.js');
  const year = partitionOf(now).split('/')[0]!;
  await writeFile(join(out, year), 'blocker');
  await destination.stop();
  const options = parseExporterOptions({
    name: 'files',
    stream: 'archive',
    destination: { type: 'file', dir: out },
    batch: { lingerMs: 0 },
    backoff: { initialMs: 5, maxMs: 20 },
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  t.after(() => exporter.stop());
  await exporter.start();
  await streams.append('archive', { topic: 't', payload: Buffer.from('{}'), receivedAt: now });
  await waitUntil(() => exporter.status().retries >= 2, 'retries while the folder is unwritable');
  assert.equal(exporter.status().lastExportedSeq, 0);
  assert.match(exporter.status().lastError?.message ?? '', /GH_EXPORT_RETRYABLE|ENOTDIR|EEXIST/);
  await rm(join(out, year));
  await waitUntil(() => exporter.status().lastExportedSeq === 1, 'exported once writable');
  // Counted like every destination's calls.
  assert.ok((await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'file', outcome: 'retryable' })) >= 2);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'file', outcome: 'ok' }), 1);
});
