// Gateway to gateway: one Gatehouse's exporter (a real store and exporter: exporter-rig.ts) sends its
// stream with the webhook destination to another's http source (the real source over a real store:
// http-post.ts), NDJSON batches to POST /topics/<topic>. The receiver's 200 means committed, so
// once the sender's checkpoint passes a record it is on the receiver's disk: at least once, every
// record arrives, also across the receiver's refused commits (answered 500, the batch resent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDeps, waitUntil } from '../helpers/index.js';
import { append, assertAll, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { httpRig } from '../helpers/http-post.js';
import { readAll } from '../helpers/store-intake.js';

test("webhook to another gateway's http source: export lines as NDJSON, every record committed there, across refused commits", {
  timeout: 60_000,
}, async (t) => {
  const rx = await httpRig(t);
  // The receiver's store refuses its first commits (answered 500): the sender resends.
  rx.intake.rejectWith(new Error('disk I/O error (staged)'));
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'webhook', url: `http://127.0.0.1:${rx.port}/topics/from/depot-7` }, testDeps(), {
    batch: { maxRecords: 20, lingerMs: 20 },
  });
  await append(streams, 100);
  await waitUntil(() => exporter.status().retries > 0, 'a refused batch is being retried', 15_000);
  assert.equal(exporter.status().lastExportedSeq, 0, 'nothing counted as exported while the receiver refuses');
  rx.intake.rejectWith(undefined);
  await waitUntil(() => exporter.status().lastExportedSeq === 100, 'all 100 exported', 30_000);
  const got = await readAll(rx.store, 'in');
  assert.ok(got.every((m) => m.topic === 'from/depot-7'));
  const lines = got.map((m) => JSON.parse(m.payload.toString()) as { id: string; seq: number; topic: string; payload: { i: number } });
  assert.ok(
    lines.every((l) => l.topic === 'dev/d1/data' && l.id === `up:${l.seq}`),
    "each message is the sender's export line",
  );
  assertAll(
    lines.map((l) => l.seq),
    100,
    'gateway to gateway',
  );
  assert.equal(exporter.status().deadLetters, 0);
});

test('webhook to another gateway with records: payload: each payload is a message as the device sent it', { timeout: 60_000 }, async (t) => {
  const rx = await httpRig(t);
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, {
    type: 'webhook',
    url: `http://127.0.0.1:${rx.port}/topics/relay`,
    records: 'payload',
    compression: 'gzip',
  });
  await append(streams, 30);
  await waitUntil(() => exporter.status().lastExportedSeq === 30, 'all 30 exported', 30_000);
  const got = await readAll(rx.store, 'in');
  assertAll(
    got.map((m) => (JSON.parse(m.payload.toString()) as { i: number }).i + 1),
    30,
    'payloads relayed',
  );
  assert.deepEqual(JSON.parse(got[0]!.payload.toString()), { d: 'd1', i: 0 });
});
