// The prometheus destination against a real Prometheus (Debian's `prometheus`, 2.42 here), a
// private server per test (temp TSDB, free port, --web.enable-remote-write-receiver): records of a
// real store sent by a real exporter as remote write requests, read back with /api/v1/query
// (`metric[10m]` gives the raw samples): values, labels and times as configured; what each of
// Prometheus's refusals does (a record dead-lettered alone with Prometheus's words and the fix, the
// rest written); the server away and back, and started without the receiver flag (held, the hint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { needBinary, testDeps, waitUntil } from '../helpers/index.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { assertHeld, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startPrometheusReceiver } from '../helpers/peers.js';
import { readAll } from '../helpers/store-intake.js';
import { checkConfigFile, exporterConfigText } from '../helpers/check-config.js';
import { tempDir } from '../helpers/index.js';
import { writeConfig } from '../helpers/gateway-process.js';
import type { LocalStreams } from '../../gateway/store/types.js';

const skip = needBinary('prometheus', 'prometheus');

interface Series {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

/** The raw samples of a range selector (`{__name__=~"..."}[3h]`), series sorted by their labels. */
async function rawSamples(url: string, selector: string): Promise<Series[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(selector)}`);
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { data: { result: Series[] } };
  return body.data.result.sort((a, b) => (JSON.stringify(a.metric) < JSON.stringify(b.metric) ? -1 : 1));
}

/** value list of one series ([ms, value]). */
const points = (s: Series | undefined): Array<[number, number]> => (s?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]);

async function put(streams: LocalStreams, topic: string, payload: unknown, receivedAt = Date.now()): Promise<void> {
  await streams.append('up', { topic, payload: Buffer.from(JSON.stringify(payload)), receivedAt });
}

test('prometheus: records in, samples out exactly: names, labels, values, times; strings and nested objects left out', { skip, timeout: 90_000 }, async (t) => {
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(
    t,
    streams,
    {
      type: 'prometheus',
      url: `${prom.url}/api/v1/write`,
      prefix: 'plant',
      labels: ['site'],
      topicLabels: { truck: 2 },
      time: 'ts',
      externalLabels: { env: 'test' },
    },
    undefined,
    { batch: { maxRecords: 7, lingerMs: 10 } },
  );
  const base = Date.now() - 60_000;
  for (let i = 0; i < 20; i++)
    await put(streams, `fleet/truck${i % 2}/engine`, {
      site: 'north side',
      temp: 90 + i / 4,
      running: i !== 3,
      state: 'run',
      nested: { x: 1 },
      ts: base + i * 1000,
    });
  await waitUntil(() => exporter.status().lastExportedSeq === 20, 'all 20 written', 30_000);
  assert.equal(exporter.status().deadLetters, 0, exporter.status().lastError?.message);
  const temp = await rawSamples(prom.url, 'plant_temp[10m]');
  assert.deepEqual(
    temp.map((s) => s.metric),
    [0, 1].map((k) => ({ __name__: 'plant_temp', env: 'test', gateway: hostname(), site: 'north side', topic: `fleet/truck${k}/engine`, truck: `truck${k}` })),
    'the gateway label: the gatewayId, by default the host name',
  );
  for (const k of [0, 1]) {
    const want = Array.from({ length: 10 }, (_, j) => 2 * j + k).map((i): [number, number] => [base + i * 1000, 90 + i / 4]);
    assert.deepEqual(points(temp[k]), want, `truck${k}: every sample, at its ts`);
  }
  const running = await rawSamples(prom.url, 'plant_running[10m]');
  assert.deepEqual(
    points(running[1]).map(([, v]) => v),
    [1, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    'booleans as 1/0 (record 3 is false)',
  );
  assert.deepEqual(
    await rawSamples(prom.url, '{__name__=~"plant_state|plant_nested.*|plant_site|plant_ts"}[10m]'),
    [],
    'no sample of strings, objects, labels or the time',
  );
});

test('prometheus: a batch sent again as it was (its answer lost): taken silently when each series has one sample in it, or with out_of_order_time_window; else refused as out of order, adding nothing', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const signal = new AbortController().signal;
  const base = Date.now() - 30_000;
  const batch = (series: number) =>
    Array.from({ length: 50 }, (_, k) => ({
      stream: 'up',
      seq: k + 1,
      topic: `dev/d${k % series}`,
      payload: Buffer.from(JSON.stringify({ i: k + 1, ts: base + k * 10 })),
      receivedAt: base,
    }));
  for (const [series, window, takenAgain] of [
    [50, false, true],
    [5, false, false],
    [5, true, true],
  ] as const) {
    const what = `${series} series of ${50 / series} samples, ${window ? 'a' : 'no'} window`;
    const prom = await startPrometheusReceiver(t, window ? { prometheusYml: 'storage:\n  tsdb:\n    out_of_order_time_window: 1h\n' } : {});
    const dest = createDestination({ type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' } as { type: 'prometheus' }, testDeps());
    await dest.start();
    t.after(() => dest.stop());
    const records = batch(series);
    assert.ok(
      (await dest.send(records, signal)).every((r) => r.ok),
      `${what}: first send taken`,
    );
    for (let round = 2; round <= 3; round++) {
      const results = await dest.send(records, signal);
      if (takenAgain)
        assert.ok(
          results.every((r) => r.ok),
          `${what}: send ${round} taken again`,
        );
      else
        assert.ok(
          results.every((r) => !r.ok && /out of order sample/.test(r.error)),
          `${what}: send ${round} refused: ${JSON.stringify(results[0])}`,
        );
    }
    const got = (await rawSamples(prom.url, 'i[10m]')).flatMap((s) => points(s));
    assert.equal(got.length, 50, `${what}: one sample per record, none twice`);
    assert.equal(
      got.reduce((n, [, v]) => n + v, 0),
      (50 * 51) / 2,
    );
  }
});

test('prometheus: the stream replayed from its start (a checkpoint lost in a crash): with out_of_order_time_window nothing is added or refused; without it the samples Prometheus holds are refused as out of order, none added', {
  skip,
  timeout: 120_000,
}, async (t) => {
  for (const window of [true, false]) {
    const prom = await startPrometheusReceiver(t, window ? { prometheusYml: 'storage:\n  tsdb:\n    out_of_order_time_window: 1h\n' } : {});
    const streams = await openStreams(t);
    const options = { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' };
    const base = Date.now() - 30_000;
    for (let i = 1; i <= 60; i++) await put(streams, 'dev/d1/data', { i, ts: base + i * 10 });
    // A second consumer of the stream, held at its start (its url refused), keeps every record in the stream.
    const held = await startExporter(t, streams, { ...options, url: 'http://127.0.0.1:1/api/v1/write' }, undefined, { name: 'replay' });
    await waitUntil(() => held.status().retries >= 1, 'the second consumer registered', 15_000);
    await held.stop();
    const first = await startExporter(t, streams, options);
    await waitUntil(() => first.status().lastExportedSeq === 60, 'all 60 written', 60_000);
    await first.stop();
    // The second consumer from its checkpoint 0: every record sent again, as after a checkpoint lost.
    const again = await startExporter(t, streams, options, undefined, { name: 'replay' });
    await waitUntil(() => again.status().lastExportedSeq === 60, 'all 60 sent again', 60_000);
    const got = points((await rawSamples(prom.url, 'i[10m]'))[0]);
    assert.equal(got.length, 60, `${window ? 'window' : 'no window'}: one sample per record, none twice`);
    assert.equal(
      got.reduce((n, [, v]) => n + v, 0),
      (60 * 61) / 2,
    );
    if (window) assert.equal(again.status().deadLetters, 0, again.status().lastError?.message);
    else {
      // The newest sample (ts equal to the series' last) is taken again; every older one is out of order.
      assert.equal(again.status().deadLetters, 59);
      assert.match(again.status().lastError?.message ?? '', /out of order sample .*sent again after a restart/);
    }
  }
});

test('prometheus: the server down, then back: the backlog waits and goes, nothing lost', { skip, timeout: 90_000 }, async (t) => {
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write` });
  for (let i = 1; i <= 10; i++) await put(streams, 'dev/d1/data', { i }, Date.now() - 100_000 + i);
  await waitUntil(() => exporter.status().lastExportedSeq === 10, 'the first 10 written', 30_000);
  await prom.down();
  for (let i = 11; i <= 30; i++) await put(streams, 'dev/d1/data', { i }, Date.now() - 50_000 + i);
  await waitUntil(() => exporter.status().retries >= 3, 'sends failing while it is down', 15_000);
  assert.equal(exporter.status().lastExportedSeq, 10, 'held while down');
  assert.match(exporter.status().lastError?.message ?? '', /ECONNREFUSED|nothing takes connections/);
  await prom.up();
  await waitUntil(() => exporter.status().lastExportedSeq === 30, 'the backlog written once it is back', 30_000);
  assert.equal(exporter.status().deadLetters, 0);
  const got = points((await rawSamples(prom.url, 'i[10m]'))[0]).map(([, v]) => v);
  assert.deepEqual(
    got,
    Array.from({ length: 30 }, (_, k) => k + 1),
  );
});

test('prometheus started without --web.enable-remote-write-receiver: the backlog is held (404), the error names the flag', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const prom = await startPrometheusReceiver(t, { receiver: false });
  const streams = await openStreams(t);
  for (let i = 0; i < 4; i++) await put(streams, 'dev/d1/data', { i });
  const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write` });
  await assertHeld(exporter, streams, 4, /HTTP 404 from POST .*remote write receiver needs to be enabled/, /--web\.enable-remote-write-receiver/);
});

/** A Prometheus user and its bcrypt hash (cost 4), made with python3's crypt.crypt('prom-secret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)). */
const PROM_USER = { user: 'gatehouse', password: 'prom-secret', bcrypt: '$2b$04$GsGQQiDRQt.mIRCjHOFCQuukOaFCy95ZBmBfRpmb4aQa55m.0PDf6' };

test('prometheus behind basic auth (its web.config.file): a wrong password holds the backlog (401) with the hint to check auth; the right one from a passwordFile delivers it', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const prom = await startPrometheusReceiver(t, { basicAuth: PROM_USER });
  const dir = await tempDir(t, 'gatehouse-prom-auth-');
  const wrong = join(dir, 'wrong');
  const right = join(dir, 'right');
  await writeFile(wrong, 'not-it\n');
  await writeFile(right, `${PROM_USER.password}\n`);
  const streams = await openStreams(t);
  for (let i = 1; i <= 4; i++) await put(streams, 'dev/d1/data', { i }, Date.now() - 10_000 + i);
  const url = `${prom.url}/api/v1/write`;
  const held = await startExporter(t, streams, { type: 'prometheus', url, auth: { type: 'basic', username: PROM_USER.user, passwordFile: wrong } });
  await assertHeld(held, streams, 4, /HTTP 401 from POST /, /check the destination's auth/);
  await held.stop();
  const exporter = await startExporter(t, streams, { type: 'prometheus', url, auth: { type: 'basic', username: PROM_USER.user, passwordFile: right } });
  await waitUntil(() => exporter.status().lastExportedSeq === 4, 'the backlog delivered', 30_000);
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('i[10m]')}`, {
    headers: { Authorization: `Basic ${Buffer.from(`${PROM_USER.user}:${PROM_USER.password}`).toString('base64')}` },
  });
  const body = (await res.json()) as { data: { result: Series[] } };
  assert.deepEqual(
    points(body.data.result[0]).map(([, v]) => v),
    [1, 2, 3, 4],
  );
});

test('prometheus: 429 (Retry-After honoured), 503 and a 500 of the server are retried, nothing dead-lettered, every sample written once', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const prom = await startPrometheusReceiver(t);
  // A stand-in in front of the real server (no real part answers 429 here: Mimir's limits would):
  // it answers the first three requests itself, then passes each on and relays the answer.
  const answers = [
    { status: 429, headers: { 'Retry-After': '1' }, body: 'too many requests' },
    { status: 503, headers: {}, body: 'starting' },
    { status: 500, headers: {}, body: 'internal' },
  ];
  const arrivals: number[] = [];
  const front = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrivals.push(Date.now());
      const canned = answers.shift();
      if (canned) {
        res.writeHead(canned.status, canned.headers).end(canned.body);
        return;
      }
      fetch(`${prom.url}/api/v1/write`, { method: 'POST', body: Buffer.concat(chunks), headers: req.headers as Record<string, string> }).then(
        async (r) => res.writeHead(r.status).end(await r.text()),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => front.close(() => resolve())));
  const streams = await openStreams(t);
  for (let i = 1; i <= 5; i++) await put(streams, 'dev/d1/data', { i }, Date.now() - 10_000 + i);
  const exporter = await startExporter(
    t,
    streams,
    { type: 'prometheus', url: `http://127.0.0.1:${(front.address() as AddressInfo).port}/api/v1/write` },
    undefined,
    { backoff: { initialMs: 20, maxMs: 5000, outageMaxMs: 100 } },
  );
  await waitUntil(() => exporter.status().lastExportedSeq === 5, 'delivered after the refusals', 30_000);
  assert.equal(exporter.status().deadLetters, 0);
  assert.ok(arrivals.length >= 4);
  assert.ok(arrivals[1]! - arrivals[0]! >= 950, `the resend waited out Retry-After: 1 (${arrivals[1]! - arrivals[0]!} ms)`);
  assert.deepEqual(
    points((await rawSamples(prom.url, 'i[10m]'))[0]).map(([, v]) => v),
    [1, 2, 3, 4, 5],
  );
});

test('prometheus: a batch written but its answer lost, sent again: without out_of_order_time_window its older samples are dead-lettered saying Prometheus most likely holds them; with it, nothing is; each sample there once', {
  skip,
  timeout: 120_000,
}, async (t) => {
  for (const window of [false, true]) {
    const prom = await startPrometheusReceiver(t, window ? { prometheusYml: 'storage:\n  tsdb:\n    out_of_order_time_window: 1h\n' } : {});
    // A stand-in in front of the real server (a lost answer cannot be staged with the server alone):
    // the first request is passed on, and its answer dropped with the connection.
    let first = true;
    const front = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const lose = first;
        first = false;
        fetch(`${prom.url}/api/v1/write`, { method: 'POST', body: Buffer.concat(chunks), headers: req.headers as Record<string, string> }).then(
          async (r) => (lose ? req.socket.destroy() : res.writeHead(r.status).end(await r.text())),
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => front.close(() => resolve())));
    const streams = await openStreams(t);
    const base = Date.now() - 20_000;
    for (let i = 1; i <= 10; i++) await put(streams, 'dev/d1/data', { i, ts: base + i * 100 });
    const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/api/v1/write`;
    const exporter = await startExporter(t, streams, { type: 'prometheus', url, time: 'ts' }, undefined, { batch: { maxRecords: 10, lingerMs: 10 } });
    await waitUntil(() => exporter.status().lastExportedSeq === 10, 'all 10 done', 30_000);
    const got = points((await rawSamples(prom.url, 'i[10m]'))[0]).map(([, v]) => v);
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `${window ? 'window' : 'no window'}: each sample once`);
    const dlq = await readAll(streams, 'up-dlq');
    if (window) assert.equal(dlq.length, 0, dlq[0]?.attrs?.error);
    else {
      // The newest sample, sent again, is taken; the 9 older are out of order.
      assert.equal(dlq.length, 9);
      for (const d of dlq) assert.match(d.attrs?.error ?? '', /out of order sample .*answer was lost: Prometheus most likely holds its samples already/);
    }
  }
});

test('prometheus: an out-of-order sample and a record without a number are dead-lettered alone, each with its reason; the rest of their batch is written', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' }, undefined, {
    batch: { maxRecords: 10, lingerMs: 200 },
  });
  const now = Date.now();
  await put(streams, 'dev/a', { v: 1, ts: now });
  await waitUntil(() => exporter.status().lastExportedSeq === 1, 'the first sample written', 30_000);
  // One batch: a's sample 10 s before the one Prometheus has, a record of strings, and 6 good ones.
  for (let i = 0; i < 8; i++) {
    if (i === 2) await put(streams, 'dev/a', { v: 2, ts: now - 10_000 });
    else if (i === 5) await put(streams, 'dev/b', { state: 'idle', ts: now });
    else await put(streams, `dev/c${i}`, { v: 10 + i, ts: now });
  }
  await waitUntil(() => exporter.status().lastExportedSeq === 9, 'the batch done', 30_000);
  const dlq = await readAll(streams, 'up-dlq');
  assert.equal(dlq.length, 2, 'two records dead-lettered, no more');
  const errors = dlq.map((d) => `${d.topic}: ${d.attrs?.error ?? ''}`).sort();
  assert.match(errors[0]!, /^dev\/a: .*HTTP 400 from POST .*: out of order sample .*storage\.tsdb\.out_of_order_time_window/);
  assert.match(errors[1]!, /^dev\/b: .*record not written as Prometheus samples: it has no number or boolean key/);
  const v = await rawSamples(prom.url, 'v[10m]');
  assert.deepEqual(
    v.map((s) => [s.metric.topic, points(s)]),
    [['dev/a', [[now, 1]]], ...[0, 1, 3, 4, 6, 7].map((i) => [`dev/c${i}`, [[now, 10 + i]]])],
    'every other sample of the batch written, the refused one not',
  );
});

test('prometheus: a backlog older than the head block (after an outage of hours) is refused as out of bounds: dead-lettered with the setting to change; with out_of_order_time_window it is taken', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const now = Date.now();
  const backlog = async (streams: LocalStreams): Promise<void> => {
    await put(streams, 'dev/live', { v: 0, ts: now });
    for (let i = 1; i <= 4; i++) await put(streams, 'dev/old', { v: i, ts: now - 2 * 3_600_000 + i * 1000 });
  };
  await t.test('by default (2.42: about an hour behind the newest sample)', async (t) => {
    const prom = await startPrometheusReceiver(t);
    const streams = await openStreams(t);
    await backlog(streams);
    const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' }, undefined, {
      batch: { maxRecords: 1, lingerMs: 0 },
    });
    await waitUntil(() => exporter.status().lastExportedSeq === 5, 'all 5 done', 30_000);
    const dlq = await readAll(streams, 'up-dlq');
    assert.equal(dlq.length, 4, 'the 4 old records dead-lettered');
    for (const d of dlq)
      assert.match(
        d.attrs?.error ?? '',
        /HTTP 400 .*out of bounds .*older than Prometheus takes.*set storage\.tsdb\.out_of_order_time_window in prometheus\.yml.*VictoriaMetrics/,
      );
    assert.deepEqual(await rawSamples(prom.url, 'v{topic="dev/old"}[3h]'), []);
  });
  await t.test('storage.tsdb.out_of_order_time_window: 3h in prometheus.yml', async (t) => {
    const prom = await startPrometheusReceiver(t, { prometheusYml: 'storage:\n  tsdb:\n    out_of_order_time_window: 3h\n' });
    const streams = await openStreams(t);
    await backlog(streams);
    const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' }, undefined, {
      batch: { maxRecords: 1, lingerMs: 0 },
    });
    await waitUntil(() => exporter.status().lastExportedSeq === 5, 'all 5 done', 30_000);
    assert.equal(exporter.status().deadLetters, 0, exporter.status().lastError?.message);
    assert.deepEqual(
      points((await rawSamples(prom.url, 'v{topic="dev/old"}[3h]'))[0]).map(([, v]) => v),
      [1, 2, 3, 4],
    );
  });
  await t.test('older than the window: 500 too old sample, dead-lettered as well (not retried as a server fault)', async (t) => {
    const prom = await startPrometheusReceiver(t, { prometheusYml: 'storage:\n  tsdb:\n    out_of_order_time_window: 30m\n' });
    const streams = await openStreams(t);
    await backlog(streams);
    const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' }, undefined, {
      batch: { maxRecords: 1, lingerMs: 0 },
    });
    await waitUntil(() => exporter.status().lastExportedSeq === 5, 'all 5 done', 30_000);
    const dlq = await readAll(streams, 'up-dlq');
    assert.equal(dlq.length, 4);
    assert.match(dlq[0]!.attrs?.error ?? '', /HTTP 500 .*too old sample .*out_of_order_time_window/);
  });
});

test('prometheus: bad options refused by check-config with their keys', async (t) => {
  const dir = await tempDir(t, 'gatehouse-prom-check-');
  const file = await writeConfig(
    dir,
    exporterConfigText(
      '{ type: prometheus, url: "http://127.0.0.1:9090/api/v1/write", topicLabels: { truck-id: 2 }, prefix: plant, metricKey: kind, labelz: [site] }',
    ),
  );
  const run = await checkConfigFile(file);
  assert.notEqual(run.code, 0);
  const text = run.out + run.err;
  assert.match(text, /exporters\.0\.destination\.topicLabels\.truck-id: .*not a Prometheus label name/);
  assert.match(text, /exporters\.0\.destination\.labelz: unknown key 'labelz' \(did you mean 'labels'\?\)/);
  const good = await writeConfig(dir, exporterConfigText('{ type: prometheus, url: "http://127.0.0.1:9090/api/v1/write", topicLabels: { truck: 2 } }'));
  const ok = await checkConfigFile(good);
  assert.equal(ok.code, 0, ok.out + ok.err);
});
