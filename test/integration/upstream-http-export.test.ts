// The http destination (Firehose HTTP endpoint delivery protocol v1.0) end to end on real parts:
// the real LevelDB store, the real exporter loop, and a real HTTP server speaking the protocol
// (test/helpers/firehose-receiver.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { startFirehoseReceiver, type FirehoseReceiver } from '../helpers/firehose-receiver.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import type { RuntimeDeps } from '../../core/deps.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Rig {
  streams: LocalStreams;
  rx: FirehoseReceiver;
  exporter: Exporter;
  deps: RuntimeDeps;
  logs: string[];
}

async function rig(t: TestContext, dest: Record<string, unknown> = {}, opts: Record<string, unknown> = {}, rxOpts: { accessKey?: string } = {}): Promise<Rig> {
  const dir = await tempDir(t);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const deps: RuntimeDeps = { ...testDeps(), logger: pino({ level: 'debug' }, sink) };
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'telemetry', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  const rx = await startFirehoseReceiver(rxOpts);
  t.after(() => rx.close());
  const options = parseExporterOptions({
    name: 'cloud',
    stream: 'telemetry',
    destination: { type: 'http', url: rx.url, timeoutMs: 2000, ...dest },
    batch: { maxRecords: 20, lingerMs: 5 },
    backoff: { initialMs: 5, maxMs: 50 },
    ...opts,
  });
  const destination = createDestination(options.destination, deps);
  const exporter = createExporter(options, { ...deps, streams, destination });
  t.after(() => exporter.stop());
  return { streams, rx, exporter, deps, logs };
}

async function append(streams: LocalStreams, from: number, to: number, body = (i: number) => `{"n":${i}}`): Promise<void> {
  await Promise.all(
    Array.from({ length: to - from + 1 }, (_, k) =>
      streams.append('telemetry', { topic: 'dev/1', payload: Buffer.from(body(from + k)), receivedAt: Date.now() }),
    ),
  );
}

function numbers(rx: FirehoseReceiver): number[] {
  return rx.allRecords().map((b) => (JSON.parse(b.toString()) as { n: number }).n);
}

test('http: protocol headers, body shape, all records delivered in order', async (t) => {
  const { streams, rx, exporter, logs } = await rig(t, { accessKey: 's3cr3t-key', commonAttributes: { site: 'plant-7' } }, {}, { accessKey: 's3cr3t-key' });
  await exporter.start();
  await append(streams, 1, 45);
  await waitUntil(() => exporter.status().lastExportedSeq === 45, 'all exported');
  assert.deepEqual(
    numbers(rx),
    Array.from({ length: 45 }, (_, i) => i + 1),
  );
  const r = rx.accepted[0]!;
  assert.equal(r.headers['x-amz-firehose-protocol-version'], '1.0');
  assert.match(String(r.headers['x-amz-firehose-request-id']), UUID);
  assert.equal(r.requestId, r.headers['x-amz-firehose-request-id'], 'body requestId matches the header');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['x-amz-firehose-access-key'], 's3cr3t-key');
  assert.deepEqual(JSON.parse(String(r.headers['x-amz-firehose-common-attributes'])), { commonAttributes: { site: 'plant-7' } });
  assert.equal(r.headers['content-encoding'], undefined);
  assert.ok(
    rx.accepted.every((a) => a.records.length <= 20),
    'batches respect maxRecords',
  );
  assert.equal(new Set(rx.accepted.map((a) => a.requestId)).size, rx.accepted.length, 'each batch has its own id');
  const st = exporter.status();
  assert.deepEqual(st.destination, { kind: 'http', target: rx.url });
  assert.ok(!JSON.stringify(st).includes('s3cr3t-key'), 'access key in status');
  assert.ok(!logs.join('').includes('s3cr3t-key'), 'access key in logs');
  assert.equal(streams.info('telemetry').records, 0, 'delivered records reclaimed');
});

test('http: gzip bodies', async (t) => {
  const { streams, rx, exporter } = await rig(t, { gzip: true });
  await exporter.start();
  await append(streams, 1, 10);
  await waitUntil(() => exporter.status().lastExportedSeq === 10, 'exported');
  assert.equal(rx.accepted[0]!.headers['content-encoding'], 'gzip');
  assert.deepEqual(
    numbers(rx),
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
});

test('http: a 500 is resent once as it was (same request id), then the batch is split; nothing lost, no budget spent', async (t) => {
  const { streams, rx, exporter, deps } = await rig(t);
  rx.failNext(3, 500);
  await append(streams, 1, 5);
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === 5, 'exported after retries');
  const reqs = rx.requests.slice(0, 5);
  assert.deepEqual(
    reqs.map((r) => [r.status, r.records.length]),
    [
      [500, 5],
      [500, 5],
      [500, 3],
      [200, 3],
      [200, 2],
    ],
    'resent as it was, then in halves (each half resent as it was)',
  );
  assert.equal(reqs[1]!.requestId, reqs[0]!.requestId, 'a resend keeps the request id');
  assert.equal(reqs[3]!.requestId, reqs[2]!.requestId);
  assert.notEqual(reqs[2]!.requestId, reqs[0]!.requestId, 'a half is a new batch');
  assert.deepEqual(numbers(rx), [1, 2, 3, 4, 5]);
  assert.equal(await metricValue(deps.registry, 'gatehouse_export_retries_total', { exporter: 'cloud' }), 13);
  assert.equal(exporter.status().deadLetters, 0);
  assert.match(exporter.status().lastError?.message ?? '', /HTTP 500/);
});

test('http: 429 is retried (throttling)', async (t) => {
  const { streams, rx, exporter } = await rig(t);
  rx.failNext(2, 429);
  await append(streams, 1, 3);
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === 3, 'exported after throttling');
  assert.deepEqual(
    rx.requests.map((r) => r.status),
    [429, 429, 200],
  );
  assert.equal(exporter.status().deadLetters, 0);
});

test('http: a 200 with a wrong requestId is a failure and is retried', async (t) => {
  const { streams, rx, exporter } = await rig(t);
  rx.wrongRequestIdNext(1);
  await append(streams, 1, 4);
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === 4, 'exported');
  assert.equal(rx.requests.length, 2);
  assert.equal(rx.requests[0]!.requestId, rx.requests[1]!.requestId);
  assert.ok(exporter.status().retries >= 4);
  assert.match(exporter.status().lastError?.message ?? '', /requestId/);
});

test('http: 413 is permanent: the bad record is dead-lettered, the rest delivered', async (t) => {
  const { streams, rx, exporter, deps } = await rig(t);
  rx.rejectWhen((records) => records.some((b) => b.includes('POISON')), 413);
  await append(streams, 1, 12, (i) => (i === 7 ? '{"n":7,"POISON":true}' : `{"n":${i}}`));
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq === 12, 'everything passed');
  assert.deepEqual(
    numbers(rx).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12],
  );
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.attrs?.sourceSeq, '7');
  assert.match(dlq[0]!.attrs?.error ?? '', /^GH_EXPORT_PERMANENT: HTTP 413/);
  assert.equal(dlq[0]!.attrs?.destination, `http:${rx.url}`);
  // Counted like every destination's calls: the rejected requests (whole batch, then the halves) and the good ones.
  assert.ok((await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'permanent' })) >= 1);
  assert.ok((await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'ok' })) >= 1);
  assert.ok((await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'http', code: 'TOO_LARGE' })) >= 1);
  // Later records still flow.
  await append(streams, 13, 15);
  await waitUntil(() => exporter.status().lastExportedSeq === 15, 'later records exported');
});

test('http: receiver down, then up: everything acknowledged arrives (duplicates counted)', async (t) => {
  const { streams, rx, exporter } = await rig(t);
  await exporter.start();
  await append(streams, 1, 30);
  await waitUntil(() => exporter.status().lastExportedSeq === 30, 'first part exported');
  await rx.down();
  await append(streams, 31, 80);
  await waitUntil(() => exporter.status().retries >= 1 && exporter.status().state === 'backoff', 'exporter backs off');
  assert.ok(exporter.status().backlog.records > 0);
  await rx.up();
  await waitUntil(() => exporter.status().lastExportedSeq === 80, 'everything exported after the outage', 10_000);
  const got = new Set(numbers(rx));
  assert.equal(got.size, 80, 'nothing missing');
  const dups = rx.duplicates();
  assert.ok(dups >= 0);
  t.diagnostic(`duplicates after outage: ${dups}`);
  assert.equal(exporter.status().deadLetters, 0);
});

test('http: a request that never gets an answer times out and is retried', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 24, onFull: 'reject' });
  let hung = 0;
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // A front server that swallows the first request, then proxies to the receiver.
  const front = http.createServer((req, res) => {
    if (hung++ === 0) return; // never answer
    const p = http.request(rx.url, { method: 'POST', headers: req.headers }, (pr) => {
      res.writeHead(pr.statusCode ?? 502, pr.headers);
      pr.pipe(res);
    });
    req.pipe(p);
  });
  front.listen(0, '127.0.0.1');
  await new Promise((r) => front.once('listening', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        front.closeAllConnections();
        front.close(() => r());
      }),
  );
  const port = (front.address() as { port: number }).port;
  const options = parseExporterOptions({
    name: 'cloud',
    stream: 'telemetry',
    destination: { type: 'http', url: `http://127.0.0.1:${port}/`, timeoutMs: 200 },
    batch: { lingerMs: 0 },
    backoff: { initialMs: 5, maxMs: 20 },
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  t.after(() => exporter.stop());
  await exporter.start();
  await append(streams, 1, 3);
  await waitUntil(() => exporter.status().lastExportedSeq === 3, 'exported after the timeout');
  assert.match(exporter.status().lastError?.message ?? '', /no response within 200 ms/);
  assert.deepEqual(numbers(rx), [1, 2, 3]);
});

test('http: bad destination options are refused with the key path', () => {
  assert.throws(() => createDestination({ type: 'http', url: 'ftp://x' } as { type: 'http' }, testDeps()), /destination\.url: /);
  assert.throws(() => createDestination({ type: 'http' } as { type: 'http' }, testDeps()), /url/);
});

test('http: stop during an outage, reopen the store, restart: no gaps (duplicates counted)', async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  const dbPath = join(dir, 'db');
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  const make = async (): Promise<{ streams: LocalStreams; exporter: Exporter }> => {
    const streams = await openLocalStreams({ path: dbPath, durability: 'fsync' }, deps);
    await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 24, onFull: 'reject' });
    const options = parseExporterOptions({
      name: 'cloud',
      stream: 'telemetry',
      destination: { type: 'http', url: rx.url, timeoutMs: 1000 },
      batch: { maxRecords: 10, lingerMs: 0 },
      backoff: { initialMs: 5, maxMs: 20 },
      stopTimeoutMs: 100,
    });
    return { streams, exporter: createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) }) };
  };
  let { streams, exporter } = await make();
  await exporter.start();
  await append(streams, 1, 25);
  await waitUntil(() => exporter.status().lastExportedSeq === 25, 'first part exported');
  await rx.down();
  await append(streams, 26, 60);
  await waitUntil(() => exporter.status().retries >= 2, 'retrying during the outage');
  await exporter.stop();
  const cp = await streams.getCheckpoint('telemetry', 'cloud');
  assert.ok(cp >= 25 && cp < 60, `checkpoint ${cp} stays before unsent records`);
  await streams.close();

  ({ streams, exporter } = await make());
  t.after(() => streams.close());
  t.after(() => exporter.stop());
  await rx.up();
  await exporter.start();
  await append(streams, 61, 70);
  await waitUntil(() => exporter.status().lastExportedSeq === 70, 'everything exported after restart');
  const got = numbers(rx);
  assert.deepEqual(
    [...new Set(got)].sort((a, b) => a - b),
    Array.from({ length: 70 }, (_, i) => i + 1),
    'no gaps',
  );
  t.diagnostic(`duplicates after restart: ${got.length - new Set(got).size}`);
});
