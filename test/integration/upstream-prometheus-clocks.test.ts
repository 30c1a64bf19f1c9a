// The prometheus destination and device clocks, against a real Prometheus (Debian's `prometheus`,
// 2.42 here; a private server per test). Found by the round-39 user trial: with `time` set, one
// device whose clock ran a day ahead had its sample taken by Prometheus, which then refused every
// later sample of every series ("out of bounds": more than about an hour behind the newest sample it
// holds) until real time caught up: a day of every device's data dead-lettered, with a hint about
// outages. The destination now dead-letters a sample further ahead than `maxFutureMs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { needBinary, waitUntil } from '../helpers/index.js';
import { openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startPrometheusReceiver } from '../helpers/peers.js';
import { readAll } from '../helpers/store-intake.js';
import type { LocalStreams } from '../../gateway/store/types.js';

const skip = needBinary('prometheus', 'prometheus');

async function put(streams: LocalStreams, topic: string, payload: unknown): Promise<void> {
  await streams.append('up', { topic, payload: Buffer.from(JSON.stringify(payload)), receivedAt: Date.now() });
}

/** The topics of the series with a sample in the 10 minutes up to `atMs` (default 2 minutes from now: a sample a minute ahead included). */
async function values(url: string, metric: string, atMs = Date.now() + 120_000): Promise<string[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(`${metric}[10m]`)}&time=${atMs / 1000}`);
  const body = (await res.json()) as { data: { result: Array<{ metric: Record<string, string> }> } };
  return body.data.result.map((r) => r.metric.topic ?? '').sort();
}

test('prometheus: a device clock a day ahead is dead-lettered alone (code FUTURE), and does not make Prometheus refuse every later sample', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts' }, undefined, {
    batch: { maxRecords: 1, lingerMs: 0 },
  });
  const now = Date.now();
  await put(streams, 'dev/ahead', { v: 1, ts: now + 24 * 3_600_000 });
  await put(streams, 'dev/a', { v: 2, ts: now });
  await put(streams, 'dev/b', { v: 3, ts: now + 60_000 });
  await waitUntil(() => exporter.status().lastExportedSeq === 3, 'all 3 done', 30_000);
  const dlq = await readAll(streams, 'up-dlq');
  assert.deepEqual(
    dlq.map((d) => d.topic),
    ['dev/ahead'],
    `only the sample a day ahead is dead-lettered: ${dlq.map((d) => d.attrs?.error).join(' | ')}`,
  );
  assert.match(dlq[0]!.attrs?.error ?? '', /record not written as Prometheus samples: its time .* is 24\.0 h ahead of the gateway's clock .*maxFutureMs/);
  assert.deepEqual(await values(prom.url, 'v'), ['dev/a', 'dev/b'], 'the samples of the right clocks are written (a minute ahead is within maxFutureMs)');
});

test('prometheus: maxFutureMs: 0 turns the guard off (a VictoriaMetrics or Mimir with limits of its own)', { skip, timeout: 90_000 }, async (t) => {
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'prometheus', url: `${prom.url}/api/v1/write`, time: 'ts', maxFutureMs: 0 }, undefined, {
    batch: { maxRecords: 1, lingerMs: 0 },
  });
  const ahead = Date.now() + 30 * 60_000;
  await put(streams, 'dev/ahead', { v: 1, ts: ahead });
  await waitUntil(() => exporter.status().lastExportedSeq === 1, 'done', 30_000);
  assert.equal(exporter.status().deadLetters, 0, exporter.status().lastError?.message);
  assert.deepEqual(await values(prom.url, 'v', ahead + 1000), ['dev/ahead'], 'half an hour ahead, beyond the default 10 min, is sent');
});

test('prometheus: topicLabel false with nothing else telling two trucks apart: their readings go into one series, and a warning names both topics', {
  skip,
  timeout: 90_000,
}, async (t) => {
  // Found by the round-39 trial: the option's description said such samples are "refused as
  // duplicates"; only those at the same millisecond are, the rest interleave in one series silently.
  const prom = await startPrometheusReceiver(t);
  const streams = await openStreams(t);
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
  const exporter = await startExporter(
    t,
    streams,
    // times 1 ms apart from the payload: two receive times in one millisecond would be one sample
    { type: 'prometheus', url: `${prom.url}/api/v1/write`, topicLabel: false, prefix: 'dup', time: 'ts' },
    { logger, registry: new Registry() },
    { batch: { maxRecords: 10, lingerMs: 300 } },
  );
  const now = Date.now();
  await put(streams, 'fleet/t3/engine', { temp: 1, ts: now });
  await put(streams, 'fleet/t4/engine', { temp: 2, ts: now + 1 });
  await waitUntil(() => exporter.status().lastExportedSeq === 2, 'both written', 30_000);
  const res = (await (await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('dup_temp[10m]')}`)).json()) as {
    data: { result: Array<{ values: unknown[] }> };
  };
  assert.deepEqual(
    res.data.result.map((r) => r.values.length),
    [2],
    'one series holding both trucks (what the user configured)',
  );
  const warning = lines.map((l) => JSON.parse(l) as { msg: string; topics?: string[] }).find((l) => /one series/.test(l.msg));
  assert.ok(warning, `a warning: ${lines.join('')}`);
  assert.deepEqual(warning.topics, ['fleet/t3/engine', 'fleet/t4/engine']);
  assert.match(warning.msg, /keep topicLabel, or give topicLabels or labels that tell the senders apart/);
});
