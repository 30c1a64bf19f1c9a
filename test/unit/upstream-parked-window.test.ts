// Parked records (each failing alone while nothing says the destination accepts others: a poison
// record) go alone, outside the batches, and wait for evidence: records behind them accepted
// (outcomes.ts, batcher.ts). The window reads ahead two batches of the records the batches draw
// from; it counted parked records in them, so two parked records with batch.maxRecords 1 (or two
// records each over batch.maxBytes) left no room to read the records that would give them their
// evidence: the loop resent the two for ever, never dead-lettered them, and every record behind them
// waited (a stalled exporter with data waiting). The loop's logic alone: MemoryStreams for the
// store, a destination double whose verdict is scripted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { FAULT, PoisonDestination, telemetryStreamOf } from '../helpers/poison-destination.js';

const N = 10;
// random 0: no jitter, so a parked record is due again as soon as a record behind it is accepted
// (its own backoff ends at once): each probe is evidence for both, whatever the machine's speed.

for (const [label, batch] of [
  ['batch.maxRecords 1', { maxRecords: 1, lingerMs: 0 }],
  ['records over batch.maxBytes', { maxBytes: 4, lingerMs: 0 }],
] as const) {
  test(`two poison records at the head of the stream (${label}): both dead-lettered after maxAttempts, every record behind them delivered`, async (t) => {
    const streams = await telemetryStreamOf(N);
    const dest = new PoisonDestination(new Set([1, 2]));
    const options = parseExporterOptions({
      name: 'exp1',
      stream: 'telemetry',
      destination: { type: 'http' },
      batch,
      backoff: { initialMs: 5, maxMs: 5, outageMaxMs: 5 },
      maxAttempts: 3,
    });
    const exporter = createExporter(options, { ...testDeps(), streams, destination: dest, random: () => 0 });
    t.after(() => exporter.stop());
    await exporter.start();
    await waitUntil(() => exporter.status().lastExportedSeq >= N, `the checkpoint passes all ${N} records`, 10_000);
    assert.equal(exporter.status().deadLetters, 2);
    const dlq = await streams.read('telemetry-dlq', 1);
    assert.deepEqual(
      dlq.map((r) => [r.attrs?.sourceSeq, r.attrs?.attempts]),
      [
        ['1', '3'],
        ['2', '3'],
      ],
    );
    assert.equal(dest.delivered.size, N - 2, 'every other record delivered');
  });
}

test('a storm (every record refused, batch.maxRecords 1): two batches and one probe are parked, no more; all delivered when it ends, nothing dead-lettered', async (t) => {
  const streams = await telemetryStreamOf(N);
  let storm = true;
  const sent: number[] = [];
  const dest = new PoisonDestination(new Set());
  const send = dest.send.bind(dest);
  dest.send = async (records) => {
    // A turn of the event loop, as the double's own send takes.
    await new Promise((resolve) => setImmediate(resolve));
    for (const r of records) sent.push(r.seq);
    return storm ? records.map(() => FAULT) : send(records);
  };
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'http' },
    batch: { maxRecords: 1, lingerMs: 0 },
    backoff: { initialMs: 5, maxMs: 5, outageMaxMs: 5 },
    maxAttempts: 3,
  });
  const exporter = createExporter(options, { ...testDeps(), streams, destination: dest, random: () => 0 });
  t.after(() => exporter.stop());
  await exporter.start();
  await waitUntil(() => sent.length >= 40, 'forty sends in the storm');
  assert.equal(Math.max(...sent), 3, 'records 1-2 (two batches) and one probe were tried, no record after them');
  assert.equal(exporter.status().parked, 3);
  storm = false;
  await waitUntil(() => exporter.status().lastExportedSeq >= N, `the checkpoint passes all ${N} records`, 10_000);
  assert.equal(exporter.status().deadLetters, 0);
  assert.equal(dest.delivered.size, N);
});
