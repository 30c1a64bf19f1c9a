// The store and the file destination on a REAL full filesystem (a size-limited tmpfs; needs root,
// skipped otherwise with a message): a failed write is never an acknowledgement, nothing
// acknowledged is lost, the store reopens by itself once space returns, the reserve keeps
// checkpoints writable, and the file destination never leaves a partial line behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { isGatehouseError } from '../../core/errors.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { metricValue, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const skip = smallFsSkip();
const MiB = 1024 * 1024;

/** Append until `rejections` appends failed; returns the acknowledged seq -> payload. */
async function fillStore(streams: LocalStreams, rejections: number, payloadBytes: number): Promise<{ acked: Map<number, Buffer>; errors: unknown[] }> {
  const acked = new Map<number, Buffer>();
  const errors: unknown[] = [];
  let inflight = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (inflight < 64 && errors.length < rejections) {
        const payload = randomBytes(payloadBytes); // incompressible: LevelDB's snappy cannot shrink it
        inflight++;
        streams
          .append('a', { topic: 't', payload, receivedAt: Date.now() })
          .then(
            (seq) => acked.set(seq, payload),
            (err: unknown) => errors.push(err),
          )
          .finally(() => {
            inflight--;
            if (errors.length >= rejections && inflight === 0) resolve();
            else setImmediate(pump);
          });
      }
    };
    pump();
  });
  return { acked, errors };
}

async function assertAllHeld(streams: LocalStreams, acked: Map<number, Buffer>): Promise<void> {
  const got = new Map<number, Buffer>();
  for (let from = 1; ; ) {
    const recs = await streams.read('a', from, { limit: 500 });
    if (recs.length === 0) break;
    for (const r of recs) got.set(r.seq, r.payload);
    from = recs[recs.length - 1]!.seq + 1;
  }
  let missing = 0;
  for (const [seq, payload] of acked) if (!got.get(seq)?.equals(payload)) missing++;
  assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged records missing or different`);
}

test('store on a full disk: failed writes are refused, nothing acknowledged is lost, it reopens by itself', { skip }, async (t) => {
  const root = await mountSmallFs(t, 24);
  const deps = testDeps();
  const path = join(root, 'db');
  await writeFiller(join(root, 'filler'), 12 * MiB);
  const streams = await openLocalStreams({ path, reserveBytes: 0, diskProbeMs: 50 }, deps);
  let closed = false;
  t.after(() => (closed ? undefined : streams.close()));
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });

  const { acked, errors } = await fillStore(streams, 50, 4096);
  assert.ok(acked.size > 100, `some appends were acknowledged first (${acked.size})`);
  assert.ok(
    errors.every((e) => isGatehouseError(e, 'GH_STORE_DISK_FULL')),
    `every refusal is GH_STORE_DISK_FULL: ${String(errors.find((e) => !isGatehouseError(e, 'GH_STORE_DISK_FULL')))}`,
  );
  const state = streams.diskState!();
  // Free space may have come back already (LevelDB removed a temporary file): then it recovered.
  assert.ok(!state.writable || state.condition === 'ok');
  assert.ok((await metricValue(deps.registry, 'gatehouse_store_failed_commits_total')) >= 1, 'failed commits are counted');
  assert.ok(
    (await metricValue(deps.registry, 'gatehouse_store_refused_appends_total')) + (await metricValue(deps.registry, 'gatehouse_store_failed_commits_total')) >=
      1,
  );
  console.log(`# store full: ${acked.size} acknowledged, ${errors.length} refused, state ${state.condition}`);

  await unlink(join(root, 'filler'));
  await waitUntil(() => streams.diskState!().writable, 'the store is writable again', 10_000);
  const maxAcked = Math.max(...acked.keys());
  for (let i = 0; i < 20; i++) {
    const payload = randomBytes(512);
    const seq = await streams.append('a', { topic: 't', payload, receivedAt: Date.now() });
    assert.ok(seq > maxAcked, 'sequence numbers never repeat after recovery');
    acked.set(seq, payload);
  }
  await assertAllHeld(streams, acked);
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_writable'), 1);

  // And after a restart, from disk alone.
  await streams.close();
  closed = true;
  const again = await openLocalStreams({ path, reserveBytes: 0 }, testDeps());
  t.after(() => again.close());
  await again.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await assertAllHeld(again, acked);
});

// An exporter reads from its checkpoint and takes an empty read with lastSeq past it as "dropped by
// retention" (it skips to lastSeq + 1). So a read must never come back empty while acknowledged
// records are held, not even while the store reopens itself after a failed write and rescans its
// keys: that window once showed every stream empty with its old lastSeq, and the disk-full e2e
// lost the last commit before the failure from the export.
test('reopening after a failed write: a concurrent read never finds acknowledged records gone', { skip }, async (t) => {
  const root = await mountSmallFs(t, 24);
  const filler = join(root, 'filler');
  await writeFiller(filler, 12 * MiB);
  let reopens = 0;
  const logger = pino({ level: 'info' }, { write: (l: string) => void (l.includes('store reopened after a failed write') && reopens++) });
  const streams = await openLocalStreams({ path: join(root, 'db'), reserveBytes: 0, diskProbeMs: 50 }, { logger, registry: new Registry() });
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await streams.addConsumer('a', 'c'); // checkpoint 0: nothing is reclaimed, every acknowledged record stays
  const { acked } = await fillStore(streams, 20, 4096);
  assert.equal(streams.diskState!().condition, 'write-error', 'a commit failed (reopening needs 8 MiB free: the filler holds it)');
  assert.equal(reopens, 0);

  // Read from the start on every turn of the event loop while the store reopens.
  let stop = false;
  const seen = { reads: 0, empty: 0, failed: 0, emptyInfo: 0 };
  const reader = (async () => {
    while (!stop) {
      try {
        const recs = await streams.read('a', 1, { limit: 1 });
        seen.reads++;
        if (recs.length === 0) seen.empty++;
      } catch {
        seen.failed++; // a read on the handle being closed fails: its caller retries
      }
      if (streams.info('a').records === 0) seen.emptyInfo++;
      await nextTurn();
    }
  })();
  await unlink(filler);
  await waitUntil(() => reopens > 0 && streams.diskState!().writable, 'the store reopened and is writable', 10_000);
  stop = true;
  await reader;
  console.log(`# reads during the reopen: ${JSON.stringify(seen)}`);
  assert.ok(seen.reads > 0);
  assert.equal(seen.empty, 0, `no read came back empty (${acked.size} acknowledged records are held)`);
  assert.equal(seen.emptyInfo, 0, 'info() never showed the stream empty');
  await assertAllHeld(streams, acked);
});

test('store reserve: data appends refused under reserveBytes while checkpoints still go to disk', { skip }, async (t) => {
  const root = await mountSmallFs(t, 8);
  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(root, 'db'), reserveBytes: 3 * MiB, diskProbeMs: 50, durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await streams.addConsumer('a', 'c');
  for (let i = 0; i < 10; i++) await streams.append('a', { topic: 't', payload: Buffer.from(`r${i}`), receivedAt: Date.now() });
  assert.ok(streams.diskState!().writable);

  // Leave 2 MiB free: under the 3 MiB reserve.
  await writeFiller(join(root, 'filler'), freeBytes(root) - 2 * MiB);
  await waitUntil(() => streams.diskState!().condition === 'low-space', 'the guard sees low space', 5000);
  await assert.rejects(
    streams.append('a', { topic: 't', payload: Buffer.from('x'), receivedAt: Date.now() }),
    (e: unknown) => isGatehouseError(e, 'GH_STORE_DISK_FULL') && /^the store cannot take data appends: .*reserve/.test(e.message),
  );
  assert.match(streams.diskState!().reason ?? '', /reserve/);
  await streams.setCheckpoint('a', 'c', 10); // out of the reserve
  assert.equal(await streams.getCheckpoint('a', 'c'), 10);
  await streams.putMeta('control', Buffer.from('state'));
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_writable'), 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_store_refused_appends_total'), 1);

  await unlink(join(root, 'filler'));
  await waitUntil(() => streams.diskState!().writable, 'writable again', 5000);
  assert.equal(await streams.append('a', { topic: 't', payload: Buffer.from('y'), receivedAt: Date.now() }), 11);
});

// A checkpoint is the write that meets a full disk first when a backlog is delivered (the data
// appends are already refused). It failed with LevelDB's bare LEVEL_IO_ERROR: no code of ours, no
// hint; the exporter logged it as an unknown error. It is GH_STORE_DISK_FULL, and once space is
// back the store reopens and the same checkpoint is written.
test('a checkpoint on a full disk fails with GH_STORE_DISK_FULL (not a bare LevelDB error) and is written after the store reopens', { skip }, async (t) => {
  const root = await mountSmallFs(t, 24);
  // No space ballast: it would be given up for the reopen, and written meanwhile it races the filler.
  const streams = await openLocalStreams({ path: join(root, 'db'), reserveBytes: 0, diskProbeMs: 50, ballastBytes: 0 }, testDeps());
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await streams.addConsumer('a', 'c');
  for (let i = 0; i < 10; i++) await streams.append('a', { topic: 't', payload: Buffer.from(`r${i}`), receivedAt: Date.now() });
  // Every free byte taken (tmpfs stops the filler at its size).
  await writeFiller(join(root, 'filler'), freeBytes(root) + MiB).catch(() => undefined);
  // Each checkpoint is a small synced write to LevelDB's log: the first ones may still fit in the
  // log's last page; one of the next few thousand needs a new page and fails.
  let failure: unknown;
  for (let i = 0; i < 10_000 && failure === undefined; i++) await streams.setCheckpoint('a', 'c', (i % 10) + 1).catch((err: unknown) => (failure = err));
  assert.ok(failure !== undefined, 'a checkpoint failed on the full disk');
  assert.ok(
    isGatehouseError(failure, 'GH_STORE_DISK_FULL'),
    `the failure is GH_STORE_DISK_FULL: ${String(failure)} (code ${(failure as { code?: unknown }).code})`,
  );
  assert.match(String((failure as Error).message), /^the store cannot (complete a write \(store \w+\)|take writes until it is reopened): .*No space left/);
  await unlink(join(root, 'filler'));
  await waitUntil(() => streams.diskState!().writable, 'the store reopened and is writable', 10_000);
  await streams.setCheckpoint('a', 'c', 10);
  assert.equal(await streams.getCheckpoint('a', 'c'), 10);
});

// A backlog that fills the disk by itself (no reserve, nothing else on the disk): the write that
// fails leaves LevelDB refusing every write until it is reopened, and reopening needs room for its
// log replay that only the backlog's delivery could free, which needs writes. Without the space
// ballast the store stayed unwritable for good (ballastBytes 0 makes this test time out).
test('a backlog that filled the disk by itself: the space ballast is given up to reopen, the backlog is delivered, appends resume, the ballast comes back', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const root = await mountSmallFs(t, 40);
  const deps = testDeps();
  const path = join(root, 'db');
  // sweepIntervalMs short: the delivered backlog's space is compacted back within the test.
  const streams = await openLocalStreams({ path, reserveBytes: 0, diskProbeMs: 50, durability: 'os', sweepIntervalMs: 200 }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await streams.addConsumer('a', 'c');
  await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_store_space_ballast_bytes')) === 16 * MiB, 'the 16 MiB ballast written', 10_000);
  const { acked } = await fillStore(streams, 20, 64 * 1024);
  assert.ok(acked.size > 100, `${acked.size} records filled the disk`);
  await waitUntil(() => streams.diskState!().condition !== 'write-error', 'the store reopened after the failed write', 20_000).catch(async (e: unknown) => {
    throw new Error(
      `${String(e)}: ${JSON.stringify(streams.diskState!())}, ballast ${await metricValue(deps.registry, 'gatehouse_store_space_ballast_bytes')}, files ${JSON.stringify((await readdir(path, { withFileTypes: true })).map((d) => d.name))}`,
    );
  });
  // The counter, not the gauge: with 20 MB free after the reopen the ballast is written again
  // within ~40 ms, before this line runs on a loaded machine (CI saw the gauge back at 16 MiB).
  assert.ok((await metricValue(deps.registry, 'gatehouse_store_space_ballast_releases_total')) >= 1, 'the ballast was given up');
  await assertAllHeld(streams, acked);
  // Delivered, checkpoint by checkpoint: the space comes back, appends resume, the ballast is rewritten.
  // The checkpoint is retried until written, as the exporter's checkpoint writer retries a failed
  // one (upstream/checkpoint.ts): a compaction LevelDB runs after the reopen may fill the disk
  // again before the reclaim's deletes are written (seen once in CI, load 2: the write failed with
  // GH_STORE_DISK_FULL on a table of that compaction); the store then reopens once more.
  await waitUntil(
    async () => {
      await streams.setCheckpoint('a', 'c', Math.max(...acked.keys()));
      return true;
    },
    'the checkpoint written (a failed write retried)',
    30_000,
    100,
  );
  await waitUntil(() => streams.diskState!().writable, `writable again (free ${freeBytes(root)} bytes)`, 30_000);
  assert.ok((await streams.append('a', { topic: 't', payload: Buffer.from('after'), receivedAt: Date.now() })) > Math.max(...acked.keys()));
  await waitUntil(
    async () => (await metricValue(deps.registry, 'gatehouse_store_space_ballast_bytes')) === 16 * MiB,
    'the ballast written again',
    60_000,
  ).catch(async (e: unknown) => {
    // What holds the disk (seen once in CI under a load of 4-5: 9.6 MB free after 60 s): LevelDB's
    // files by size, the store's disk state and its compactions so far.
    const files = await readdir(path);
    const sizes = await Promise.all(files.map(async (f) => `${f} ${(await stat(join(path, f))).size}`));
    throw new Error(
      `${String(e)}: free ${freeBytes(root)} bytes, ${JSON.stringify(streams.diskState!())}, compactions ${await metricValue(deps.registry, 'gatehouse_store_compactions_total')}, files ${sizes.join(', ')}`,
    );
  });
});

function rec(seq: number, bytes: number): StoredRecord {
  return { stream: 'a', seq, topic: 't', receivedAt: 1_700_000_000_000, payload: Buffer.from(JSON.stringify({ seq, pad: 'x'.repeat(bytes) })) };
}

async function exportedLines(dir: string): Promise<{ seqs: number[]; bad: number }> {
  const seqs: number[] = [];
  let bad = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const text = await readFile(join(e.parentPath, e.name), 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) bad++;
    for (const l of text.split('\n')) {
      if (!l) continue;
      try {
        seqs.push((JSON.parse(l) as { seq: number }).seq);
      } catch {
        bad++;
      }
    }
  }
  return { seqs, bad };
}

test('file destination on a full disk: short writes and ENOSPC fail the send, no partial line is left', { skip }, async (t) => {
  const root = await mountSmallFs(t, 4);
  const dir = join(root, 'export');
  await writeFiller(join(root, 'filler'), MiB);
  const dest = createDestination({ type: 'file', dir } as { type: 'file' }, { ...testDeps(), reserveBytes: 0 });
  await dest.start();
  t.after(() => dest.stop());
  const ac = new AbortController();
  let seq = 1;
  let ok = 0;
  let failedBatch: StoredRecord[] | undefined;
  while (!failedBatch) {
    const batch = Array.from({ length: 100 }, () => rec(seq++, 900));
    try {
      const results = await dest.send(batch, ac.signal);
      assert.ok(results.every((r) => r.ok));
      ok += batch.length;
    } catch (err) {
      assert.match(String(err), /ENOSPC|no space|short write/i);
      failedBatch = batch;
    }
  }
  let lines = await exportedLines(dir);
  assert.equal(lines.bad, 0, 'no truncated line');
  assert.equal(lines.seqs.length, ok, 'exactly the records of successful sends are on disk');

  await unlink(join(root, 'filler'));
  await dest.send(failedBatch, ac.signal);
  lines = await exportedLines(dir);
  assert.equal(lines.bad, 0);
  assert.equal(lines.seqs.length, ok + failedBatch.length);
  assert.deepEqual(
    lines.seqs.sort((a, b) => a - b),
    Array.from({ length: ok + failedBatch.length }, (_, i) => i + 1),
  );
  console.log(`# file destination full: ${ok} records written before the disk filled, then the failed batch of ${failedBatch.length} after space returned`);
});

test('file destination keeps the reserve: refuses a batch that would eat into reserveBytes', { skip }, async (t) => {
  const root = await mountSmallFs(t, 4);
  const dir = join(root, 'export');
  const dest = createDestination({ type: 'file', dir } as { type: 'file' }, { ...testDeps(), reserveBytes: 3 * MiB });
  await dest.start();
  t.after(() => dest.stop());
  const ac = new AbortController();
  let seq = 1;
  let ok = 0;
  await assert.rejects(async () => {
    for (;;) {
      await dest.send(
        Array.from({ length: 50 }, () => rec(seq++, 900)),
        ac.signal,
      );
      ok += 50;
    }
  }, /is full: \d+ bytes free/);
  assert.ok(freeBytes(root) >= 3 * MiB - 64 * 1024, `the reserve is left free (${freeBytes(root)} bytes)`);
  const lines = await exportedLines(dir);
  assert.equal(lines.bad, 0);
  assert.equal(lines.seqs.length, ok);
});

test('serial ACK mode on a full disk: no ACK while full (NAKs, frames held by the device), all committed once space returns', {
  skip: skip ?? socatSkip,
}, async (t) => {
  const root = await mountSmallFs(t, 8);
  const streams = await openLocalStreams({ path: join(root, 'db'), reserveBytes: 3 * MiB, diskProbeMs: 50, durability: 'os' }, testDeps());
  t.after(() => streams.close());
  await streams.defineStream({ name: 'serial', maxBytes: 64 * MiB, onFull: 'reject' });
  await writeFiller(join(root, 'filler'), freeBytes(root) - 2 * MiB);
  await waitUntil(() => streams.diskState!().condition === 'low-space', 'the store sees low space', 5000);

  const pair = await startSocat(t);
  const link = createSerialLink(simulatorLinkOptions('full', pair.dev1, 'crc', 'json', true), {
    ...testDeps(),
    onMessage: (m) => streams.append('serial', { topic: m.topic, payload: m.payload, receivedAt: m.receivedAt }).then(() => undefined),
  });
  await link.start();
  t.after(() => link.stop());
  const N = 40;
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 200, framing: 'crc', codec: 'json', ack: true, count: N, ackTimeoutMs: 200, bufferSize: 64 });
  await dev.start();
  t.after(() => dev.stop());
  await waitUntil(() => dev.stats().naks >= 20 && dev.stats().unacked >= 10, 'the device is refused (NAKs) and holds its frames', 10_000);
  assert.equal(dev.stats().acked, 0, 'no ACK while the disk is full');
  assert.equal(streams.info('serial').lastSeq, 0);

  await unlink(join(root, 'filler'));
  await withTimeout(dev.done, 20_000, 'every frame is ACKed after space returns');
  const got = new Set((await streams.read('serial', 1, { limit: 10_000 })).map((r) => (JSON.parse(r.payload.toString()) as { seq: number }).seq));
  for (let i = 0; i < N; i++) assert.ok(got.has(i), `frame ${i} committed`);
  console.log(`# serial on a full disk: ${dev.stats().naks} NAKs while full, then ${N} frames committed, ${dev.stats().resent} resends`);
});

test('opening the store on a full disk says the disk is full (LevelDB must write a table to replay its log), and opens once space returns', {
  skip,
}, async (t) => {
  const fs = await mountSmallFs(t, 4);
  const path = join(fs, 'store');
  const streams = await openLocalStreams({ path, reserveBytes: 0 }, testDeps());
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  for (let i = 0; i < 300; i++) await streams.append('a', { topic: 't', payload: randomBytes(1000), receivedAt: Date.now() });
  await streams.close(); // the records are in LevelDB's log, not yet in a table
  const filler = join(fs, 'filler');
  try {
    await writeFiller(filler, freeBytes(fs));
  } catch {
    // tmpfs may refuse the last block: full either way
  }
  await assert.rejects(
    openLocalStreams({ path, reserveBytes: 0 }, testDeps()),
    (err: unknown) =>
      isGatehouseError(err) &&
      err.code === 'GH_STORE_DISK_FULL' &&
      /^the store cannot open its database: the disk is full \(.*No space left/.test(err.message) &&
      /free space/.test(err.hint ?? ''),
  );
  await unlink(filler);
  const again = await openLocalStreams({ path, reserveBytes: 0 }, testDeps());
  await again.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  assert.equal(again.info('a')?.lastSeq, 300, 'nothing stored was lost');
  await again.close();
});

// The same start on a full disk with a space ballast held: the open gives it up and opens at once
// (a gateway killed after its own backlog filled the disk restarts by itself). Before, the open
// waited for someone to free space.
test('opening the store on a full disk gives up the space ballast for the log replay and opens', { skip, timeout: 60_000 }, async (t) => {
  const fs = await mountSmallFs(t, 32);
  const path = join(fs, 'store');
  const deps = testDeps();
  const streams = await openLocalStreams({ path, reserveBytes: 0, diskProbeMs: 50 }, deps);
  await streams.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_store_space_ballast_bytes')) === 16 * MiB, 'the ballast written', 10_000);
  for (let i = 0; i < 300; i++) await streams.append('a', { topic: 't', payload: randomBytes(1000), receivedAt: Date.now() });
  await streams.close(); // the records are in LevelDB's log, not yet in a table
  await writeFiller(join(fs, 'filler'), freeBytes(fs)).catch(() => undefined); // tmpfs may refuse the last block: full either way
  const again = await openLocalStreams({ path, reserveBytes: 0, diskProbeMs: 60_000 }, testDeps());
  t.after(() => again.close());
  await again.defineStream({ name: 'a', maxBytes: 1024 * MiB, onFull: 'reject' });
  assert.equal(again.info('a')?.lastSeq, 300, 'nothing stored was lost');
  assert.ok(freeBytes(fs) > 8 * MiB, 'the ballast is gone');
});
