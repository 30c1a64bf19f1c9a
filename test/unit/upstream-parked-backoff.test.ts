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
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { testDeps, waitUntil } from '../helpers/index.js';

const POISON = 1;
const FAULT: RecordResult = { ok: false, retryable: true, error: 'HTTP 500 (scripted)' };

/** Refuses record POISON wherever it is, accepts every other record. */
class PoisonDestination implements Destination {
  readonly kind = 'scripted';
  readonly target = 'memory';
  readonly limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20 };
  readonly sends: number[][] = [];
  readonly delivered = new Set<number>();
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(records: readonly StoredRecord[]): Promise<RecordResult[]> {
    this.sends.push(records.map((r) => r.seq));
    if (records.some((r) => r.seq === POISON)) return records.map(() => FAULT);
    for (const r of records) this.delivered.add(r.seq);
    return records.map(() => ({ ok: true }));
  }
}

test('a poison record with a long backoff of its own and a backlog behind it: the window fills, it goes without its backoff, is dead-lettered after maxAttempts, every other record delivered', async (t) => {
  const streams = new MemoryStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  const N = 200;
  for (let i = 1; i <= N; i++) await streams.append('telemetry', { topic: 'dev/1', payload: Buffer.from(`{"i":${i}}`), receivedAt: Date.now() });
  const dest = new PoisonDestination();
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
