// The webhook destination's format influx against a real InfluxDB 1.x (Debian's `influxdb`, its
// /write endpoint): records of a real store written as line protocol by a real exporter, then read
// back with InfluxQL (/query): each point's measurement, tags, fields and time as configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needBinary, waitUntil } from '../helpers/index.js';
import { append, assertHeld, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startInfluxdb } from '../helpers/peers.js';

const skip = needBinary('influxd', 'influxdb');

/** An InfluxQL statement's first series: its columns and rows. */
async function query(url: string, q: string): Promise<{ columns: string[]; values: unknown[][] } | undefined> {
  const res = await fetch(`${url}/query?db=plant&epoch=ms&q=${encodeURIComponent(q)}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }>; error?: string }> };
  assert.equal(body.results[0]?.error, undefined);
  return body.results[0]?.series?.[0];
}

test('webhook influx: points written to InfluxDB /write read back with their measurement, tags, fields and time', { skip, timeout: 90_000 }, async (t) => {
  const influx = await startInfluxdb(t);
  await query(influx.url, 'CREATE DATABASE plant');
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: `${influx.url}/write?db=plant&precision=ms`,
    format: 'influx',
    compression: 'gzip',
    influx: { measurementTopicLevel: 3, topicTags: { truck: 2 }, tags: ['site'], time: 'ts', precision: 'ms' },
  });
  const base = Date.UTC(2026, 0, 2, 3, 4, 5);
  for (let i = 0; i < 10; i++) {
    const payload = {
      site: i % 2 === 0 ? 'north side' : 'south,east',
      temp: 90 + i / 2,
      running: i !== 3,
      state: `s"${i}"`,
      ts: new Date(base + i * 1000).toISOString(),
    };
    await streams.append('up', { topic: `fleet/truck${i % 3}/engine`, payload: Buffer.from(JSON.stringify(payload)), receivedAt: Date.now() });
  }
  await waitUntil(() => exporter.status().lastExportedSeq === 10, 'all 10 written', 30_000);
  assert.equal(exporter.status().deadLetters, 0, exporter.status().lastError?.message);
  const all = await query(influx.url, 'SELECT * FROM engine ORDER BY time');
  assert.ok(all, 'the measurement engine exists');
  const col = (row: unknown[], name: string): unknown => row[all.columns.indexOf(name)];
  assert.deepEqual([...all.columns].sort(), ['running', 'site', 'state', 'temp', 'time', 'truck']);
  assert.equal(all.values.length, 10);
  all.values.forEach((row, i) => {
    assert.equal(col(row, 'time'), base + i * 1000, `point ${i}: its time from the ts key`);
    assert.equal(col(row, 'temp'), 90 + i / 2);
    assert.equal(col(row, 'running'), i !== 3);
    assert.equal(col(row, 'state'), `s"${i}"`);
    assert.equal(col(row, 'site'), i % 2 === 0 ? 'north side' : 'south,east', 'a tag with a space and a comma, escaped');
    assert.equal(col(row, 'truck'), `truck${i % 3}`);
  });
  // Tags are tags (indexed), not fields: a GROUP BY on them works.
  const byTruck = await query(influx.url, "SELECT count(temp) FROM engine WHERE truck = 'truck0'");
  assert.equal(byTruck?.values[0]?.[1], 4);
});

test('webhook influx without a time key: 2000 records of one series received in a few milliseconds are 2000 points (were 9: one per millisecond), and each sent twice (at least once) adds none', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const influx = await startInfluxdb(t);
  await query(influx.url, 'CREATE DATABASE plant');
  const streams = await openStreams(t);
  const options = { type: 'webhook', url: `${influx.url}/write?db=plant`, format: 'influx', influx: { measurementTopicLevel: 3, topicTags: { truck: 2 } } };
  // two exporters of the stream to the same database: every record is written twice, as a resend after a lost answer would
  const exporters = [await startExporter(t, streams, options), await startExporter(t, streams, options, undefined, { name: 'cloud-again' })];
  const receivedAt = Date.now();
  for (let i = 1; i <= 2000; i++)
    await streams.append('up', { topic: 'fleet/truck5/burst', payload: Buffer.from(JSON.stringify({ i })), receivedAt: receivedAt + Math.floor(i / 250) });
  await waitUntil(() => exporters.every((e) => e.status().lastExportedSeq === 2000), 'all 2000 written by both', 60_000);
  for (const e of exporters) assert.equal(e.status().deadLetters, 0);
  const counted = await query(influx.url, 'SELECT count(i), sum(i) FROM burst');
  assert.deepEqual(counted?.values[0]?.slice(1), [2000, (2000 * 2001) / 2], 'one point per record: none merged into another, none twice');
});

test('webhook influx to InfluxDB 1.x with a url without ?db=: the backlog is held with the hint to add it (was: every record dead-lettered for its 400)', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const influx = await startInfluxdb(t);
  await query(influx.url, 'CREATE DATABASE plant');
  const streams = await openStreams(t);
  await append(streams, 4);
  const exporter = await startExporter(t, streams, { type: 'webhook', url: `${influx.url}/write`, format: 'influx', influx: { measurement: 'm' } });
  await assertHeld(exporter, streams, 4, /HTTP 400 from POST .*database is required/, /add \?db=<database> to the destination's url/);
});

test("webhook influx: Telegraf's JSON metrics (outputs.http, use_batch_format = false) become its own points: measurementKey name, tagsObject tags, fieldsObject fields, time timestamp in s (were a point of name and timestamp, the fields left out)", {
  skip,
  timeout: 90_000,
}, async (t) => {
  const influx = await startInfluxdb(t);
  await query(influx.url, 'CREATE DATABASE plant');
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: `${influx.url}/write?db=plant`,
    format: 'influx',
    influx: { measurementKey: 'name', tagsObject: 'tags', fieldsObject: 'fields', time: 'timestamp', timeUnit: 's' },
  });
  const at = Date.UTC(2026, 11, 7, 22, 0, 0) / 1000;
  const metrics = [
    { fields: { usage_idle: 97.5, usage_user: 1.25 }, name: 'cpu', tags: { cpu: 'cpu-total', host: 'edge 1' }, timestamp: at },
    { fields: { used_percent: 41.5, available: 8000000000 }, name: 'mem', tags: { host: 'edge 1' }, timestamp: at + 10 },
    { name: 'disk', tags: { host: 'edge 1' }, timestamp: at }, // no fields: dead-lettered with why
  ];
  for (const m of metrics) await streams.append('up', { topic: 'telegraf/metrics', payload: Buffer.from(JSON.stringify(m)), receivedAt: Date.now() });
  await waitUntil(() => exporter.status().lastExportedSeq === 3, 'all 3 handled', 30_000);
  assert.equal(exporter.status().deadLetters, 1, 'the metric without fields');
  const cpu = await query(influx.url, 'SELECT * FROM cpu');
  assert.deepEqual(cpu?.columns, ['time', 'cpu', 'host', 'usage_idle', 'usage_user']);
  assert.deepEqual(cpu?.values, [[at * 1000, 'cpu-total', 'edge 1', 97.5, 1.25]]);
  const mem = await query(influx.url, "SELECT available, used_percent FROM mem WHERE host = 'edge 1'");
  assert.deepEqual(mem?.values, [[(at + 10) * 1000, 8000000000, 41.5]], 'host is a tag: WHERE on it finds the point');
});

test('webhook influx passLineProtocol: Telegraf\'s line protocol (data_format = "influx", a flush a message) goes to InfluxDB as it is; a bad line dead-letters its record with InfluxDB\'s reason; JSON still made into a point (was: every such record dead-lettered, not JSON)', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const influx = await startInfluxdb(t);
  await query(influx.url, 'CREATE DATABASE plant');
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: `${influx.url}/write?db=plant`,
    format: 'influx',
    influx: { measurementTopicLevel: 2, passLineProtocol: true },
  });
  const ns = BigInt(Date.UTC(2026, 11, 7, 22, 0, 0)) * 1_000_000n;
  const flush = [
    `cpu,cpu=cpu-total,host=edge usage_idle=97.5,usage_user=1.25 ${ns}`,
    `mem,host=edge used_percent=41.5,available=8000000000i ${ns}`,
    `disk,host=edge,path=/ used=1234i ${ns + 10_000_000_000n}`,
    '',
  ].join('\r\n');
  const append = (topic: string, payload: string) => streams.append('up', { topic, payload: Buffer.from(payload), receivedAt: Date.now() });
  await append('telegraf/agent', flush);
  await append('telegraf/agent', `cpu,host=edge usage_idle="not a float" ${ns + 1n}`); // a type conflict: refused
  await append('plant/temp', '{"t":21.5}'); // JSON: a point as configured (measurement: level 2)
  await waitUntil(() => exporter.status().lastExportedSeq === 3, 'all 3 handled', 30_000);
  assert.equal(exporter.status().deadLetters, 1, 'the line with the type conflict');
  assert.match(exporter.status().lastError?.message ?? '', /field type conflict/);
  assert.deepEqual((await query(influx.url, 'SELECT usage_idle, usage_user FROM cpu'))?.values, [[Number(ns / 1_000_000n), 97.5, 1.25]]);
  assert.deepEqual((await query(influx.url, 'SELECT available FROM mem'))?.values, [[Number(ns / 1_000_000n), 8000000000]], 'an integer field stays one (i)');
  assert.deepEqual((await query(influx.url, 'SELECT used FROM disk'))?.values, [[Number(ns / 1_000_000n) + 10_000, 1234]]);
  assert.equal((await query(influx.url, 'SELECT t FROM temp'))?.values.length, 1);
});
