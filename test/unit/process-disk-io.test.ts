// gateway/metrics/default-metrics.ts: gatehouse_process_disk_written_bytes_total and _read_bytes_total,
// the bytes the process made the kernel write to storage (/proc/self/io), what wears a Pi's SD card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statfsSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { readProcessIo } from '../../gateway/metrics/default-metrics.js';
import { repoRoot } from '../helpers/index.js';

const TMPFS_MAGIC = 0x01021994;

async function written(registry: ReturnType<typeof createMetricsRegistry>): Promise<number> {
  const m = await registry.getSingleMetric('gatehouse_process_disk_written_bytes_total')?.get();
  return m?.values[0]?.value ?? Number.NaN;
}

test('readProcessIo reads read_bytes and write_bytes, and nothing from a file without them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-proc-io-'));
  try {
    const good = join(dir, 'io');
    await writeFile(good, 'rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n');
    assert.deepEqual(readProcessIo(good), { readBytes: 4096, writeBytes: 8192 });
    const bad = join(dir, 'bad');
    await writeFile(bad, 'rchar: 10\n');
    assert.equal(readProcessIo(bad), undefined);
    assert.equal(readProcessIo(join(dir, 'missing')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the written-bytes counter grows by what the process writes and syncs', {
  skip: existsSync('/proc/self/io') ? false : 'no /proc/self/io: not Linux',
}, async () => {
  const registry = createMetricsRegistry('0.0.0-test', 'test');
  const before = await written(registry);
  assert.ok(before >= 0, `counter registered: ${before}`);
  // A tmpfs has no storage behind it, so its writes count nothing: write where a disk is.
  const base = statfsSync(tmpdir()).type === TMPFS_MAGIC ? repoRoot : tmpdir();
  const dir = await mkdtemp(join(base, 'gatehouse-disk-io-'));
  try {
    const fh = await open(join(dir, 'data'), 'w');
    await fh.write(Buffer.alloc(2 * 1024 * 1024, 0x61));
    await fh.datasync();
    await fh.close();
    const after = await written(registry);
    assert.ok(after - before >= 2 * 1024 * 1024, `written bytes grew by ${after - before}, at least the 2 MiB synced`);
    assert.ok((await written(registry)) >= after, 'a counter never goes down');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
