// The file destination's maxTotalBytes on real parts (LevelDB store, exporter loop, real files):
// an export folder nobody empties grew for ever, one file per hour or per maxFileBytes, until the
// disk was full (churn audit, round 19). With maxTotalBytes the oldest closed files go first, also
// once a stream's sequences pass 10^12 and the names' 12 zero-padded digits become 13.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import { KEY_DROP_FLOOR, u64 } from '../../gateway/store/codec.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import type { RuntimeDeps } from '../../core/deps.js';

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function totalBytes(dir: string, files: string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await stat(join(dir, f))).size;
  return n;
}

async function openStore(path: string, deps: RuntimeDeps): Promise<LocalStreams> {
  const s = await openLocalStreams({ path, durability: 'os' }, deps);
  await s.defineStream({ name: 'archive', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  return s;
}

function exporterFor(streams: LocalStreams, deps: RuntimeDeps, dest: Record<string, unknown>, dataDir: string) {
  const options = parseExporterOptions({ name: 'files', stream: 'archive', destination: dest, batch: { maxRecords: 20, lingerMs: 10 } });
  const destination = createDestination(options.destination, { ...deps, dataDir });
  return createExporter(options, { ...deps, streams, destination });
}

const MAX_TOTAL = 8192;

test('file export: maxTotalBytes deletes the oldest export files, keeps the newest and what is not an export file', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  let clock = Date.UTC(2024, 4, 6, 7, 30, 0);
  deps.now = () => clock;
  const exportDir = join(dataDir, 'export');
  // Left by an earlier run, in an older hour: trimmed like the rest; a file of the user's is not touched.
  await mkdir(join(exportDir, '2024/05/05/23'), { recursive: true });
  await writeFile(join(exportDir, '2024/05/05/23/archive-000000000001-1714950000000.ndjson'), 'x'.repeat(6000));
  await writeFile(join(exportDir, 'README.txt'), 'mine');
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  const exporter = exporterFor(streams, deps, { type: 'file', maxFileBytes: 2048, maxTotalBytes: MAX_TOTAL }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  const N = 400;
  for (let i = 0; i < N; i += 50) {
    // Two hours of data: hour folders emptied by the retention go too.
    if (i === 200) clock = Date.UTC(2024, 4, 6, 8, 0, 1);
    await Promise.all(
      Array.from({ length: 50 }, (_, k) =>
        streams.append('archive', {
          topic: `fleet/truck${k % 4}/engine`,
          payload: Buffer.from(JSON.stringify({ i: i + k, temp: 90 + (k % 10) })),
          receivedAt: clock,
        }),
      ),
    );
  }
  await waitUntil(() => exporter.status().lastExportedSeq === N, 'all exported');
  await exporter.stop();

  const files = await listFiles(exportDir);
  const exports = files.filter((f) => f !== 'README.txt');
  assert.ok(files.includes('README.txt'), 'a file that is not an export file stays');
  const total = await totalBytes(exportDir, exports);
  assert.ok(total <= MAX_TOTAL, `export files hold ${total} bytes, over maxTotalBytes ${MAX_TOTAL} (${exports.join(', ')})`);
  assert.ok(exports.length >= 2, `the newest files are kept: ${exports.join(', ')}`);
  assert.ok(!exports.some((f) => f.startsWith('2024/05/05/')), `the earlier run's file is deleted: ${exports.join(', ')}`);
  assert.deepEqual(await readdir(join(exportDir, '2024/05')), ['06'], 'emptied partition folders are removed');
  // What is left is the newest data, contiguous up to the last record.
  const seqs: number[] = [];
  for (const f of exports) for (const l of (await readFile(join(exportDir, f), 'utf8')).split('\n')) if (l) seqs.push((JSON.parse(l) as { seq: number }).seq);
  assert.equal(seqs.at(-1), N, 'the last record is kept');
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => N - seqs.length + 1 + i),
    'the files kept hold the newest records, without a gap',
  );
  assert.ok((await metricValue(deps.registry, 'gatehouse_export_files_deleted_total', { target: exportDir })) > 0, 'deletions are counted');
  assert.ok((await metricValue(deps.registry, 'gatehouse_export_deleted_bytes_total', { target: exportDir })) >= 6000);
});

test('file export: without maxTotalBytes nothing is deleted (as before)', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  const exporter = exporterFor(streams, deps, { type: 'file', maxFileBytes: 1024 }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      streams.append('archive', { topic: 't', payload: Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(50) })), receivedAt: Date.now() }),
    ),
  );
  await waitUntil(() => exporter.status().lastExportedSeq === 100, 'all exported');
  await exporter.stop();
  const exportDir = join(dataDir, 'export');
  const files = await listFiles(exportDir);
  let lines = 0;
  for (const f of files) lines += (await readFile(join(exportDir, f), 'utf8')).split('\n').filter(Boolean).length;
  assert.equal(lines, 100);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_files_deleted_total'), 0);
});

test('file export: maxTotalBytes across a stream past 10^12 records, whose file names have 13 digits of sequence, still deletes the oldest', async (t) => {
  const dataDir = await tempDir(t);
  const deps = testDeps();
  // The stream starts 200 records before 10^12: the store's drop floor (drop.ts), as a store that
  // dropped such a stream leaves it.
  const FLOOR = 1e12 - 200;
  const seed = new Level<Buffer, Buffer>(join(dataDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await seed.put(Buffer.from([KEY_DROP_FLOOR]), u64(FLOOR));
  await seed.close();
  const streams = await openStore(join(dataDir, 'db'), deps);
  t.after(() => streams.close());
  const exporter = exporterFor(streams, deps, { type: 'file', maxFileBytes: 2048, maxTotalBytes: MAX_TOTAL }, dataDir);
  t.after(() => exporter.stop());
  await exporter.start();
  const N = 400;
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, k) =>
        streams.append('archive', { topic: 't', payload: Buffer.from(JSON.stringify({ i: i + k, pad: 'p'.repeat(40) })), receivedAt: Date.now() }),
      ),
    );
  }
  await waitUntil(() => exporter.status().lastExportedSeq === FLOOR + N, 'all exported');
  await exporter.stop();
  const exportDir = join(dataDir, 'export');
  const exports = await listFiles(exportDir);
  assert.ok(
    exports.some((f) => /-1000000000\d{3}-\d+\.ndjson$/.test(f)),
    `files past 10^12 are named with 13 digits: ${exports.join(', ')}`,
  );
  const total = await totalBytes(exportDir, exports);
  assert.ok(total <= MAX_TOTAL, `export files hold ${total} bytes, over maxTotalBytes ${MAX_TOTAL} (${exports.join(', ')})`);
  const seqs: number[] = [];
  for (const f of exports) for (const l of (await readFile(join(exportDir, f), 'utf8')).split('\n')) if (l) seqs.push((JSON.parse(l) as { seq: number }).seq);
  seqs.sort((a, b) => a - b);
  assert.equal(seqs.at(-1), FLOOR + N, 'the last record is kept');
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => FLOOR + N - seqs.length + 1 + i),
    'the files kept hold the newest records, without a gap',
  );
});
