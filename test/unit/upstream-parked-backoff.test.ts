// A parked record (failing alone while other records are accepted: a poison record) waits on a
// backoff of its own while the records behind it go on (outcomes.ts, batcher.ts). Those records stay
// in the window behind it (the checkpoint cannot pass it), and the window is capped: near the cap it
// goes without its backoff, so the probes left give its remaining tries their evidence. Without
// that, a long backoff let the probes fill the window, and the record, with no accepted record
// after its next try, was held for ever with every record behind it.
// The loop's logic alone: MemoryStreams for the store, a destination double whose verdict is
// scripted (the real destinations and a real broker: test/integration/upstream-setup-refusal-pace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { PoisonDestination, telemetryStreamOf } from '../helpers/poison-destination.js';

const POISON = 1;

test('a poison record with a long backoff of its own and a backlog behind it: the window fills, it goes without its backoff, is dead-lettered after maxAttempts, every other record delivered', async (t) => {
  const N = 200;
  const streams = await telemetryStreamOf(N);
  const dest = new PoisonDestination(new Set([POISON]));
  // Window cap: 4 batches of 4 records + maxAttempts = 19 entries; each counted failure of record 1
  // is followed by a backoff of its own of half of 60 s doubling (random 0.5): without the cap rule
  // it would be held for minutes, then for ever.
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'http' },
    batch: { maxRecords: 4, lingerMs: 0 },
    backoff: { initialMs: 60_000, maxMs: 60_000, outageMaxMs: 5 },
    maxAttempts: 3,
  });
  const exporter = createExporter(options, { ...testDeps(), streams, destination: dest, random: () => 0.5 });
  t.after(() => exporter.stop());
  await exporter.start();
  await waitUntil(() => exporter.status().lastExportedSeq >= N, `the checkpoint passes all ${N} records`, 15_000);
  assert.equal(exporter.status().deadLetters, 1);
  const dlq = await streams.read('telemetry-dlq', 1);
  assert.deepEqual(
    dlq.map((r) => [r.attrs?.sourceSeq, r.attrs?.attempts]),
    [['1', '3']],
  );
  assert.equal(dest.delivered.size, N - 1, 'every other record delivered');
  // Its counted tries each came alone, after other records were accepted.
  assert.ok(dest.sends.filter((s) => s.length === 1 && s[0] === POISON).length >= 2);
});
