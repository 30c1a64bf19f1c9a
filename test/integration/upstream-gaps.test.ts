// Gaps in a stream, on the real store (docs/upstream.md, "Gaps in a stream"): an exporter skips
// only records that are provably gone (below firstSeq, and the data agrees) and counts the skip;
// where the store counts records it cannot return, or calls records dropped that it still holds,
// the exporter holds its checkpoint, says so once, counts each read, and retries after its
// backoff. Its checkpoint never passes a record it did not send: reclaim would delete it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from 'level';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { AppendRecord, LocalStreams, ReadOptions, StoredRecord, StreamInfo, StreamOptions } from '../../gateway/store/types.js';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';

/** Accepts everything and remembers the sequences (the subject here is the store and the loop). */
class CollectingDestination implements Destination {
  readonly kind = 'collect';
  readonly target = 'memory';
  readonly limits = { maxRecords: 100, maxRecordBytes: 1 << 20, maxBatchBytes: 1 << 20 };
  readonly delivered: number[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(records: readonly StoredRecord[]): Promise<RecordResult[]> {
    for (const r of records) this.delivered.push(r.seq);
    return records.map(() => ({ ok: true }));
  }
}

/**
 * THE SEAM (the only injection here): the exporter depends on the LocalStreams contract alone
 * (gateway/store/types.ts). This wrapper hands every call to the real store, except info() and
 * read() while `rescanning` is set: then they answer as the store did during the in-place reopen
 * rescan that lost acknowledged records (fixed in local-streams.ts reopen()): the stream empty
 * (records 0, firstSeq = lastSeq + 1, its old lastSeq) and every read empty. The data on disk, and
 * firstHeld, which reads it, are the real store's.
 */
class RescanningStore implements LocalStreams {
  rescanning = false;
  constructor(private readonly real: LocalStreams) {}
  info(stream: string): StreamInfo {
    const i = this.real.info(stream);
    return this.rescanning ? { ...i, records: 0, bytes: 0, firstSeq: i.lastSeq + 1, oldestAt: undefined } : i;
  }
  async read(stream: string, fromSeq: number, options?: ReadOptions): Promise<StoredRecord[]> {
    const recs = await this.real.read(stream, fromSeq, options);
    return this.rescanning ? [] : recs;
  }
  open = (): Promise<void> => this.real.open();
  close = (): Promise<void> => this.real.close();
  refuseWaitingForSpace = (): number => this.real.refuseWaitingForSpace();
  defineStream = (o: StreamOptions): Promise<void> => this.real.defineStream(o);
  streamNames = (): string[] => this.real.streamNames();
  hasStream = (name: string): boolean => this.real.hasStream(name);
  append = (stream: string, r: AppendRecord): Promise<number> => this.real.append(stream, r);
  firstHeld = (stream: string, fromSeq: number): Promise<number | undefined> => this.real.firstHeld(stream, fromSeq);
  waitFor = (stream: string, seq: number, signal?: AbortSignal): Promise<void> => this.real.waitFor(stream, seq, signal);
  addConsumer = (stream: string, c: string): Promise<void> => this.real.addConsumer(stream, c);
  removeConsumer = (stream: string, c: string): Promise<void> => this.real.removeConsumer(stream, c);
  getCheckpoint = (stream: string, c: string): Promise<number> => this.real.getCheckpoint(stream, c);
  setCheckpoint = (stream: string, c: string, seq: number): Promise<void> => this.real.setCheckpoint(stream, c, seq);
  getMeta = (key: string): Promise<Buffer | undefined> => this.real.getMeta(key);
  putMeta = (key: string, value: Buffer): Promise<void> => this.real.putMeta(key, value);
  putMetas = (entries: ReadonlyArray<readonly [string, Buffer]>): Promise<void> => this.real.putMetas(entries);
  commitMeta = (key: string, value: Buffer): Promise<void> => this.real.commitMeta(key, value);
  sweep = (): Promise<void> => this.real.sweep();
  compact = (): Promise<void> => this.real.compact();
}

const STREAM: StreamOptions = { name: 's', maxBytes: 1 << 20, onFull: 'reject' };

function rec(i: number, receivedAt = Date.now()): AppendRecord {
  return { topic: 't', payload: Buffer.from(`r${i}`), receivedAt };
}

/** Append each batch in its own commit (one segment per batch). */
async function appendBatches(store: LocalStreams, batches: number[][], receivedAt?: number): Promise<void> {
  for (const b of batches) await Promise.all(b.map((i) => store.append(STREAM.name, rec(i, receivedAt))));
}

function exporterOn(t: TestContext, streams: LocalStreams, deps: ReturnType<typeof testDeps>): { exporter: Exporter; dest: CollectingDestination } {
  const dest = new CollectingDestination();
  const options = parseExporterOptions({
    name: 'exp',
    stream: STREAM.name,
    destination: { type: 'http' },
    batch: { maxRecords: 10, lingerMs: 0 },
    backoff: { initialMs: 10, maxMs: 40 },
  });
  const exporter = createExporter(options, { ...deps, streams, destination: dest, random: () => 0.5 });
  t.after(() => exporter.stop());
  return { exporter, dest };
}

test('counters that call records dropped while the data holds them: the exporter holds, never skips; it exports them once reads agree', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  const real = await openLocalStreams({ path: dir }, deps);
  t.after(() => real.close());
  await real.defineStream(STREAM);
  await appendBatches(real, [
    [1, 2, 3],
    [4, 5],
  ]);
  const store = new RescanningStore(real);
  store.rescanning = true;
  const { exporter, dest } = exporterOn(t, store, deps);
  await exporter.start();

  // Five reads, each after the backoff (5, 10, 20, 20 ms with this jitter): no hot loop.
  await waitUntil(() => (exporter.status().inconsistentReads >= 5 ? true : undefined), 'five inconsistent reads');
  const st = exporter.status();
  assert.ok(st.readStall, 'the stall is reported');
  assert.equal(st.readStall.seq, 1);
  assert.ok(Date.now() - Date.parse(st.readStall.since) >= 50, 'retries wait for the backoff');
  assert.match(st.lastError?.message ?? '', /^GH_EXPORT_READ_INCONSISTENT: .*record 1 is still stored/);
  assert.deepEqual(st.skipped, { retention: 0, unreadable: 0 });
  // Nothing skipped: the checkpoint did not move, so reclaim kept every record.
  assert.equal(st.lastExportedSeq, 0);
  assert.equal(await real.getCheckpoint('s', 'exp'), 0);
  assert.equal(real.info('s').records, 5);
  assert.deepEqual(dest.delivered, []);
  assert.ok((await metricValue(deps.registry, 'gatehouse_export_inconsistent_reads_total', { exporter: 'exp', stream: 's' })) >= 5);

  // The counters agree with the data again: everything goes, nothing counted as skipped.
  store.rescanning = false;
  await waitUntil(() => (exporter.status().lastExportedSeq >= 5 ? true : undefined), 'checkpoint reaches 5');
  assert.deepEqual(dest.delivered, [1, 2, 3, 4, 5]);
  assert.equal(exporter.status().readStall, undefined);
  assert.deepEqual(exporter.status().skipped, { retention: 0, unreadable: 0 });
});

test('a store that counts records it cannot return: the exporter holds its checkpoint until a newer record shows them gone, then counts them', async (t) => {
  const dir = await tempDir(t);
  let store = await openLocalStreams({ path: dir }, testDeps());
  await store.defineStream(STREAM);
  await appendBatches(store, [[1], [2, 3], [4, 5]]);
  // 'exp' at 1 reclaims the segment of 1, which writes the high-water mark (5); 'other' at 1 keeps
  // 2-3 held after 'exp' passes them.
  await store.setCheckpoint('s', 'exp', 1);
  await store.setCheckpoint('s', 'other', 1);
  await store.close();
  // The key of the segment 4-5 is lost (its records with it); the high-water mark still says 5.
  const raw = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  const keys = await raw.keys({ gte: Buffer.from('S'), lt: Buffer.from('T') }).all();
  assert.equal(keys.length, 2);
  await raw.del(keys[1] as Buffer);
  await raw.close();

  const deps = testDeps();
  store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  await store.defineStream(STREAM);
  assert.deepEqual([store.info('s').firstSeq, store.info('s').lastSeq, store.info('s').records], [2, 5, 2]);
  const { exporter, dest } = exporterOn(t, store, deps);
  await exporter.start();

  await waitUntil(() => (exporter.status().inconsistentReads >= 3 ? true : undefined), 'inconsistent reads at 4');
  let st = exporter.status();
  assert.deepEqual(dest.delivered, [2, 3]);
  assert.equal(st.readStall?.seq, 4);
  assert.deepEqual([st.readStall?.firstSeq, st.readStall?.lastSeq], [2, 5]);
  assert.match(st.lastError?.message ?? '', /^GH_EXPORT_READ_INCONSISTENT: stream 's' counts records 4\.\.5 .* returns none/);
  assert.equal(st.lastExportedSeq, 3, 'the checkpoint stops before the records it could not read');
  assert.equal(await store.getCheckpoint('s', 'exp'), 3);

  // A newer record: the store's read passes over 4-5 to it (they are not held). The exporter
  // exports 6 and counts 4-5 as records the store could not return.
  assert.equal(await store.append('s', rec(6)), 6);
  await waitUntil(() => (exporter.status().lastExportedSeq >= 6 ? true : undefined), 'checkpoint reaches 6');
  st = exporter.status();
  assert.deepEqual(dest.delivered, [2, 3, 6]);
  assert.deepEqual(st.skipped, { retention: 0, unreadable: 2 });
  assert.equal(st.readStall, undefined);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_skipped_records_total', { exporter: 'exp', stream: 's', reason: 'unreadable' }), 2);
});

test('records retention dropped are skipped to firstSeq and counted, from a read that jumps and from an empty read', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: dir }, deps);
  t.after(() => store.close());
  // drop-oldest: each record is 3 bytes (topic 't' + 'rN'), so 6 bytes keep the last two.
  await store.defineStream({ name: 's', maxBytes: 6, onFull: 'drop-oldest' });
  await appendBatches(store, [[1], [2], [3], [4], [5]]);
  assert.deepEqual([store.info('s').firstSeq, store.info('s').droppedRecords], [4, 3]);
  const { exporter, dest } = exporterOn(t, store, deps);
  await exporter.start();
  await waitUntil(() => (exporter.status().lastExportedSeq >= 5 ? true : undefined), 'checkpoint reaches 5');
  assert.deepEqual(dest.delivered, [4, 5]);
  assert.deepEqual(exporter.status().skipped, { retention: 3, unreadable: 0 });

  // ttl drops everything held while the exporter is stopped: the stream is empty (firstSeq =
  // lastSeq + 1) and the read at 6 finds nothing; the data agrees, so it skips to firstSeq.
  await exporter.stop();
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'drop-oldest', ttlMs: 1000 });
  await appendBatches(store, [[6], [7, 8]], Date.now() - 60_000);
  await store.sweep();
  assert.deepEqual([store.info('s').records, store.info('s').firstSeq], [0, 9]);
  await exporter.start();
  await waitUntil(() => (exporter.status().lastExportedSeq >= 8 ? true : undefined), 'checkpoint reaches 8');
  assert.deepEqual(dest.delivered, [4, 5]);
  const st = exporter.status();
  assert.deepEqual(st.skipped, { retention: 6, unreadable: 0 });
  assert.equal(st.inconsistentReads, 0);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_skipped_records_total', { exporter: 'exp', stream: 's', reason: 'retention' }), 6);
});
