// What the exporter's status and metrics say about held records (docs/upstream.md, "One failing
// shard"): `held` counts the records a destination that rebatches throttled and the window holds,
// `heldBack` says the window reached its bound (nothing more is read, only they go), and the
// gatehouse_export_held_records gauge follows `held`. Checked against what the destination double
// refused (no real peer fails one key on demand; test/e2e/upstream-kinesis-held-status.test.ts does
// it against kinesalite behind a fault proxy). MemoryStreams for the store, wrapped to see the reads.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { HELD_BATCHES, SPAN_BATCHES } from '../../gateway/upstream/window.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { ReadOptions, StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';

const THROTTLED: RecordResult = { ok: false, retryable: true, error: 'ProvisionedThroughputExceededException: Rate exceeded for shard', code: 'THROTTLED' };
const MAX_RECORDS = 10;
const PAYLOAD = 20;
const MAX_ATTEMPTS = 3;

/** Throttles every record of key 'hot' while `failing`; accepts the others. Counts what it refused. */
class ShardDestination implements Destination {
  readonly kind = 'shards';
  readonly target = 'memory';
  readonly limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20 };
  readonly rebatch = true;
  failing = true;
  readonly delivered = new Set<number>();
  /** Sequences refused at least once. */
  readonly refused = new Set<number>();
  sends = 0;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(records: readonly StoredRecord[]): Promise<RecordResult[]> {
    this.sends++;
    await new Promise((resolve) => setImmediate(resolve));
    return records.map((r) => {
      if (this.failing && r.key === 'hot') {
        this.refused.add(r.seq);
        return THROTTLED;
      }
      this.delivered.add(r.seq);
      return { ok: true };
    });
  }
  /** Refused and not delivered since: what the window must hold. */
  get refusedNow(): number {
    let n = 0;
    for (const s of this.refused) if (!this.delivered.has(s)) n++;
    return n;
  }
}

/** MemoryStreams that remembers the highest sequence the exporter read. */
class SeenStreams extends MemoryStreams {
  maxRead = 0;
  override async read(stream: string, fromSeq: number, options?: ReadOptions): Promise<StoredRecord[]> {
    const recs = await super.read(stream, fromSeq, options);
    if (stream === 'telemetry') for (const r of recs) this.maxRead = Math.max(this.maxRead, r.seq);
    return recs;
  }
}

/** An exporter of `total` records (appended before it starts) whose key is keyOf(i), to a destination throttling key 'hot'. */
async function setup(t: TestContext, total: number, keyOf: (i: number) => string, maxBytes = 1 << 20) {
  const streams = new SeenStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  for (let i = 1; i <= total; i++) await streams.append('telemetry', { topic: 't', key: keyOf(i), payload: Buffer.alloc(PAYLOAD, 97), receivedAt: Date.now() });
  const dest = new ShardDestination();
  const deps = { ...testDeps(), streams, destination: dest, random: () => 0.5 };
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'kinesis' },
    batch: { maxRecords: MAX_RECORDS, maxBytes, lingerMs: 0 },
    backoff: { initialMs: 2, maxMs: 20, outageMaxMs: 20 },
    maxAttempts: MAX_ATTEMPTS,
  });
  const exporter = createExporter(options, deps);
  t.after(() => exporter.stop());
  const gauge = () => metricValue(deps.registry, 'gatehouse_export_held_records', { exporter: 'exp1' });
  return { streams, dest, exporter, gauge };
}

/** Heal the key: every record delivered, the status and the gauge say nothing is held any more. */
async function healed(r: Awaited<ReturnType<typeof setup>>, total: number): Promise<void> {
  r.dest.failing = false;
  await waitUntil(() => r.exporter.status().lastExportedSeq >= total || undefined, `the checkpoint passes all ${total} records once the key heals`, 20_000);
  const st = r.exporter.status();
  assert.equal(st.held, 0, 'nothing held once the destination took them');
  assert.equal(st.heldBack, false, 'no longer held back');
  assert.equal(r.dest.delivered.size, total);
  assert.equal(st.deadLetters, 0);
  // The gauge is refreshed when the loop goes idle (and every 5 s).
  await waitUntil(async () => ((await r.gauge()) === 0 ? true : undefined), 'the held-records gauge back at 0', 10_000);
}

/**
 * Wait until the status says the window is held back, with held = what the destination refused and
 * has not taken = every record of the hot key read (`hotRead` of the highest sequence read: once the
 * last ones read ahead were sent). Polled: a send's results are applied after the double answers.
 */
async function heldBackStatus(r: Awaited<ReturnType<typeof setup>>, hotRead: (maxRead: number) => number) {
  return waitUntil(
    () => {
      const s = r.exporter.status();
      return s.heldBack && s.held === r.dest.refusedNow && s.held === hotRead(r.streams.maxRead) ? s : undefined;
    },
    'the status says held back, with held = the records refused and not delivered = the hot records read',
    20_000,
  );
}

for (const [label, maxBytes, bound] of [
  ['their count', 1 << 20, HELD_BATCHES * MAX_RECORDS],
  ['their bytes', 10 * PAYLOAD, (2 * 10 * PAYLOAD) / PAYLOAD],
] as const) {
  test(`every record throttled: the status says held back once the held records reach their bound (${label}), and no longer once they go`, async (t) => {
    const total = 1000;
    const r = await setup(t, total, () => 'hot', maxBytes);
    await r.exporter.start();
    const st = await heldBackStatus(r, (maxRead) => maxRead);
    t.diagnostic(`held ${st.held} (bound ${bound}), read through seq ${r.streams.maxRead}, ${r.dest.sends} sends`);
    // At the bound, plus at most the two batches of new records read before it was reached.
    assert.ok(st.held >= bound && st.held <= bound + 2 * MAX_RECORDS, `held ${st.held}, bound ${bound}`);
    assert.equal(st.lastExportedSeq, 0, 'the checkpoint stays below the first held record');
    await waitUntil(async () => ((await r.gauge()) === st.held ? true : undefined), `the held-records gauge at ${st.held}`, 10_000);
    // What heldBack says is true: nothing more is read while only the held records go.
    const read = r.streams.maxRead;
    const sends = r.dest.sends;
    await waitUntil(() => r.dest.sends >= sends + 50 || undefined, '50 more sends', 20_000);
    assert.equal(r.streams.maxRead, read, 'held back: nothing more read');
    assert.equal(r.exporter.status().heldBack, true);
    await healed(r, total);
  });
}

test('one key in six throttled for ever: held back once the window reads its span (before 16 batches are held), and no longer once they go', async (t) => {
  const total = 1200;
  const r = await setup(t, total, (i) => (i % 6 === 2 ? 'hot' : `k${i % 6}`));
  await r.exporter.start();
  // Every hot record read is held (refused, never delivered): one in six of those read.
  const st = await heldBackStatus(r, (maxRead) => Math.floor((maxRead + 4) / 6));
  // Reached by the span (64 batches past the first held record, seq 2), before 16 batches held.
  const span = MAX_RECORDS * SPAN_BATCHES + MAX_ATTEMPTS;
  t.diagnostic(`held ${st.held}, read through seq ${r.streams.maxRead} (span ${span}), ${r.dest.delivered.size} delivered`);
  assert.ok(st.held < HELD_BATCHES * MAX_RECORDS, `below the count bound: ${st.held}`);
  assert.ok(r.streams.maxRead - 1 >= span, `read through the span: ${r.streams.maxRead}`);
  await healed(r, total);
});

test('a few records throttled, the others delivered: held counts them, the window is not held back', async (t) => {
  const total = 60;
  const r = await setup(t, total, (i) => (i % 6 === 2 ? 'hot' : `k${i % 6}`));
  await r.exporter.start();
  await waitUntil(() => r.dest.delivered.size === 50 || undefined, 'the 50 records of the healthy keys delivered', 20_000);
  const st = await waitUntil(
    () => {
      const s = r.exporter.status();
      return s.held === 10 ? s : undefined;
    },
    'the 10 hot records held',
    20_000,
  );
  assert.equal(r.dest.refusedNow, 10);
  assert.equal(st.heldBack, false, 'room left: not held back');
  assert.equal(st.parked, 0, 'held, not parked');
  await waitUntil(async () => ((await r.gauge()) === 10 ? true : undefined), 'the held-records gauge at 10', 10_000);
  await healed(r, total);
});
