// HTTP 500 on real parts (the real LevelDB store, the real exporter loop, a real HTTP server
// speaking the Firehose protocol: test/helpers/firehose-receiver.ts). A 500 spends a record's retry
// budget only with evidence that the record is at fault (docs/upstream.md, "Retry budget"):
// - a storm (500 to everything, far longer than maxAttempts sends) dead-letters nothing, and every
//   record is delivered once the endpoint recovers;
// - a poison record (the endpoint answers 500 to any request that carries it) is isolated and
//   dead-lettered after maxAttempts, and every other record is delivered.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { startFirehoseReceiver, type FirehoseReceiver, type ReceivedRequest } from '../helpers/firehose-receiver.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';

const MAX_ATTEMPTS = 3;
const RECORDS = 60;

interface Rig {
  streams: LocalStreams;
  rx: FirehoseReceiver;
  exporter: Exporter;
}

async function rig(t: TestContext): Promise<Rig> {
  const dir = await tempDir(t);
  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'telemetry', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // Small backoff so that maxAttempts failed sends take a few tens of ms.
  const options = parseExporterOptions({
    name: 'cloud',
    stream: 'telemetry',
    destination: { type: 'http', url: rx.url, timeoutMs: 2000 },
    batch: { maxRecords: 20, lingerMs: 0 },
    backoff: { initialMs: 2, maxMs: 10, outageMaxMs: 10 },
    maxAttempts: MAX_ATTEMPTS,
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  t.after(() => exporter.stop());
  return { streams, rx, exporter };
}

async function append(streams: LocalStreams, n: number, body: (i: number) => string = (i) => `{"n":${i}}`): Promise<void> {
  for (let i = 1; i <= n; i++) await streams.append('telemetry', { topic: 'dev/1', payload: Buffer.from(body(i)), receivedAt: Date.now() });
}

/** How many 500 answers each record (by its data) got. */
function failuresPerRecord(requests: readonly ReceivedRequest[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const r of requests) {
    if (r.status !== 500) continue;
    for (const b of r.records) n.set(b.toString(), (n.get(b.toString()) ?? 0) + 1);
  }
  return n;
}

test('http 500 storm: 500 to everything for many times maxAttempts sends, then recovery: no dead letter, every record delivered', {
  timeout: 60_000,
}, async (t) => {
  const { streams, rx, exporter } = await rig(t);
  // The storm: the next 80 requests get 500, whatever they carry. Under a budget spent by every
  // 500, the 60 records (3 batches of 20) would all be dead-lettered after 3 x 3 = 9 requests.
  const STORM = 80;
  rx.failNext(STORM, 500);
  await append(streams, RECORDS);
  await exporter.start();
  // The storm ends when its requests are used up: wait for the first accepted request (or for a
  // dead letter, which is the failure this test is about).
  await waitUntil(() => rx.acceptedRequests > 0 || exporter.status().deadLetters > 0, 'the storm ends or a record is dead-lettered', 30_000);
  assert.equal(exporter.status().deadLetters, 0, 'no record was dead-lettered during the storm');
  const worst = Math.max(...failuresPerRecord(rx.requests).values());
  assert.equal(rx.requests.filter((r) => r.status === 500).length, STORM);
  assert.ok(worst >= 4 * MAX_ATTEMPTS, `the storm outlasted a record's budget many times over (worst record: ${worst} failed sends)`);

  await waitUntil(() => exporter.status().lastExportedSeq === RECORDS, 'everything exported after the storm', 30_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0);
  assert.equal(st.exportedRecords, RECORDS);
  assert.equal(streams.info('telemetry-dlq').records, 0, 'the dead-letter stream is empty');
  const got = new Set(rx.uniqueRecords());
  for (let i = 1; i <= RECORDS; i++) assert.ok(got.has(`{"n":${i}}`), `record ${i} delivered`);
  t.diagnostic(`storm of ${STORM} requests; worst record failed ${worst} times; ${rx.totalRequests} requests in all`);
});

test('http 500 poison: a record the endpoint always answers 500 for is dead-lettered after maxAttempts, every other record delivered', {
  timeout: 60_000,
}, async (t) => {
  const { streams, rx, exporter } = await rig(t);
  rx.rejectWhen((records) => records.some((b) => b.includes('POISON')), 500);
  await append(streams, RECORDS, (i) => (i === 7 ? '{"n":7,"POISON":true}' : `{"n":${i}}`));
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === RECORDS, 'everything passed the checkpoint', 30_000);

  const dlq = await streams.read('telemetry-dlq', 1);
  assert.equal(dlq.length, 1, 'only the poison record is dead-lettered');
  assert.equal(dlq[0]!.attrs?.sourceSeq, '7');
  assert.equal(dlq[0]!.attrs?.attempts, String(MAX_ATTEMPTS));
  assert.match(dlq[0]!.attrs?.error ?? '', new RegExp(`HTTP 500 .*gave up after ${MAX_ATTEMPTS} attempts`));
  const got = rx.uniqueRecords();
  assert.ok(!got.some((s) => s.includes('POISON')), 'the poison record was never accepted');
  const seen = new Set(got);
  for (let i = 1; i <= RECORDS; i++) if (i !== 7) assert.ok(seen.has(`{"n":${i}}`), `record ${i} delivered`);
  // Only the poison record spent its budget: it was sent alone (isolated) at least maxAttempts times.
  const alone = rx.requests.filter((r) => r.records.length === 1 && r.records[0]!.includes('POISON'));
  assert.ok(alone.length >= MAX_ATTEMPTS, `the poison record went alone ${alone.length} times`);
  assert.equal(exporter.status().deadLetters, 1);
  t.diagnostic(`${rx.totalRequests} requests; the poison record was in ${failuresPerRecord(rx.requests).get('{"n":7,"POISON":true}')} of them`);
});
