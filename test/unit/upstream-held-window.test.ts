// Held records: a destination that rebatches (Kinesis, Firehose: Destination.rebatch) and throttles
// one partition key's records for ever while it accepts the others' (one failing shard). The held
// records join later batches beside new ones, the others' records keep flowing, the checkpoint
// stays below the first held record, and the window stays within its bound (docs/upstream.md, "One
// failing shard"). The loop's logic alone: MemoryStreams for the store (wrapped to see what the
// window read), a destination double whose verdict is by key (no real peer fails one key on demand;
// test/e2e/upstream-kinesis-shard.test.ts does it against kinesalite behind a fault proxy).
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { HELD_BATCHES, SPAN_BATCHES } from '../../gateway/upstream/window.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { ReadOptions, StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { testDeps, waitUntil } from '../helpers/index.js';

const THROTTLED: RecordResult = { ok: false, retryable: true, error: 'ProvisionedThroughputExceededException: Rate exceeded for shard', code: 'THROTTLED' };

/** Throttles every record of key 'hot' while `failing`; accepts the others. */
class ShardDestination implements Destination {
  readonly kind = 'shards';
  readonly target = 'memory';
  readonly limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20 };
  readonly rebatch: boolean;
  failing = true;
  readonly delivered = new Set<number>();
  sends = 0;
  constructor(rebatch: boolean) {
    this.rebatch = rebatch;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(records: readonly StoredRecord[]): Promise<RecordResult[]> {
    this.sends++;
    await new Promise((resolve) => setImmediate(resolve));
    return records.map((r) => {
      if (this.failing && r.key === 'hot') return THROTTLED;
      this.delivered.add(r.seq);
      return { ok: true };
    });
  }
}

/** MemoryStreams that remembers every sequence the exporter read and the payload bytes of each. */
class SeenStreams extends MemoryStreams {
  readonly read_ = new Map<number, number>();
  override async read(stream: string, fromSeq: number, options?: ReadOptions): Promise<StoredRecord[]> {
    const recs = await super.read(stream, fromSeq, options);
    if (stream === 'telemetry') for (const r of recs) this.read_.set(r.seq, r.payload.length);
    return recs;
  }
}

const MAX_RECORDS = 10;
const PAYLOAD = 20;

/** How far the window reads past the first held record: SPAN_BATCHES, or until HELD_BATCHES of held
 * records (or two batches of their bytes), one record in six. */
function reach(maxBytes: number): number {
  const heldCap = Math.min(HELD_BATCHES * MAX_RECORDS, Math.floor((2 * maxBytes) / PAYLOAD));
  return Math.min(MAX_RECORDS * SPAN_BATCHES, 6 * heldCap);
}

async function run(t: import('node:test').TestContext, rebatch: boolean, total: number, MAX_BYTES = 4000) {
  const streams = new SeenStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  const dest = new ShardDestination(rebatch);
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'kinesis' },
    batch: { maxRecords: MAX_RECORDS, maxBytes: MAX_BYTES, lingerMs: 0 },
    backoff: { initialMs: 2, maxMs: 20, outageMaxMs: 20 },
    maxAttempts: 3,
  });
  const exporter = createExporter(options, { ...testDeps(), streams, destination: dest, random: () => 0.5 });
  t.after(() => exporter.stop());
  // One record in six of the hot key (a shard of six), the first one at seq 2; appended while the
  // exporter runs (endless healthy records), watching the undelivered records it holds.
  let maxHeld = 0;
  let maxHeldBytes = 0;
  let maxSpan = 0;
  let checkpointMax = 0;
  const watch = (): void => {
    let n = 0;
    let bytes = 0;
    for (const [seq, b] of streams.read_) {
      if (!dest.delivered.has(seq)) {
        n++;
        bytes += b;
      }
    }
    maxHeld = Math.max(maxHeld, n);
    maxHeldBytes = Math.max(maxHeldBytes, bytes);
    maxSpan = Math.max(maxSpan, Math.max(0, ...streams.read_.keys()) - exporter.status().lastExportedSeq);
    checkpointMax = Math.max(checkpointMax, exporter.status().lastExportedSeq);
  };
  await exporter.start();
  for (let i = 1; i <= total; i++) {
    await streams.append('telemetry', { topic: 't', key: i % 6 === 2 ? 'hot' : `k${i % 6}`, payload: Buffer.alloc(PAYLOAD, 97), receivedAt: Date.now() });
    if (i % 50 === 0) {
      watch();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const healthy = total - Math.floor((total + 4) / 6);
  // Until the window reached its bound (or read everything), and for 100 sends after: the bound holds while only held records go.
  if (rebatch)
    await waitUntil(
      () => {
        watch();
        return dest.delivered.size >= reach(MAX_BYTES) * (5 / 6) - 2 * MAX_RECORDS || streams.read_.size >= total || undefined;
      },
      'the healthy records delivered up to the bound',
      20_000,
    ).catch(() => undefined);
  const sends = dest.sends;
  await waitUntil(
    () => {
      watch();
      return dest.sends >= sends + 100 || undefined;
    },
    '100 more sends',
    20_000,
  );
  return { dest, exporter, streams, healthy, maxHeld, maxHeldBytes, maxSpan, checkpointMax };
}

for (const [label, maxBytes] of [
  ['records bound', 4000],
  ['bytes bound', 10 * PAYLOAD],
] as const) {
  test(`a key throttled for ever at a destination that rebatches (${label}): the other keys keep flowing; the window stays within its bound`, async (t) => {
    const total = 3000;
    const r = await run(t, true, total, maxBytes);
    t.diagnostic(
      `delivered ${r.dest.delivered.size} of ${r.healthy} healthy records in ${r.dest.sends} sends; undelivered records held at most ${r.maxHeld} (${r.maxHeldBytes} bytes), read at most ${r.maxSpan} past the checkpoint`,
    );
    // Bound (docs/upstream.md): undelivered records held: 2 batches of new records read ahead and
    // fewer than HELD_BATCHES of held ones, their bytes under 2 batches' each (plus a record), and
    // reading stops SPAN_BATCHES batches past the first undelivered record.
    assert.ok(r.maxHeld <= (2 + HELD_BATCHES) * MAX_RECORDS, `undelivered records held: ${r.maxHeld}`);
    assert.ok(r.maxHeldBytes <= 4 * maxBytes + PAYLOAD, `undelivered bytes held: ${r.maxHeldBytes}`);
    assert.ok(r.maxSpan <= MAX_RECORDS * SPAN_BATCHES + 3, `read past the checkpoint: ${r.maxSpan}`);
    assert.ok(r.checkpointMax < 2, `the checkpoint stays below the first throttled record (seq 2): ${r.checkpointMax}`);
    assert.equal(r.exporter.status().deadLetters, 0, 'throttling spends no budget');
    // The healthy records flow until a bound is reached (one record in six held), then the window
    // holds its position: before rebatching, only the first batch went.
    assert.ok(
      r.dest.delivered.size >= 0.75 * reach(maxBytes) * (5 / 6),
      `healthy records delivered past the held ones: ${r.dest.delivered.size} (reach ${reach(maxBytes)})`,
    );
    r.dest.failing = false;
    await waitUntil(() => r.exporter.status().lastExportedSeq >= total || undefined, `the checkpoint passes all ${total} records once the key heals`, 20_000);
    assert.equal(r.dest.delivered.size, total);
  });
}

test('the same without rebatching (an HTTP-like destination): only the failed records are resent, the others wait', async (t) => {
  const r = await run(t, false, 600);
  t.diagnostic(`delivered ${r.dest.delivered.size} of ${r.healthy} healthy records in ${r.dest.sends} sends`);
  assert.ok(r.dest.delivered.size < 2 * MAX_RECORDS, `at most the first batches went: ${r.dest.delivered.size}`);
  r.dest.failing = false;
  await waitUntil(() => r.exporter.status().lastExportedSeq >= 600 || undefined, 'all 600 once the key heals', 20_000);
});

test('a quiet stream beside a key throttled for ever: each new record of another key goes within a second, not after a pause grown by the held record tries', async (t) => {
  const streams = new SeenStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  const dest = new ShardDestination(true);
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'kinesis' },
    batch: { maxRecords: 10, lingerMs: 0 },
    // A pause or backoff of up to 5 s would show: each new record must go within 1 s.
    backoff: { initialMs: 50, maxMs: 5000, outageMaxMs: 5000 },
  });
  const exporter = createExporter(options, { ...testDeps(), streams, destination: dest, random: () => 0.5 });
  t.after(() => exporter.stop());
  await exporter.start();
  const append = (key: string) => streams.append('telemetry', { topic: 't', key, payload: Buffer.alloc(PAYLOAD, 97), receivedAt: Date.now() });
  await append('hot');
  // Six tries alone: a pause doubled by each would be 50 * 2^5 = 1.6 s.
  await waitUntil(() => dest.sends >= 6 || undefined, 'the hot record tried six times', 20_000);
  let worst = 0;
  for (let i = 0; i < 15; i++) {
    const seq = await append(`k${i % 5}`);
    const t0 = performance.now();
    await waitUntil(() => dest.delivered.has(seq) || undefined, `record ${seq} delivered within 1 s`, 1000, 5);
    worst = Math.max(worst, performance.now() - t0);
  }
  t.diagnostic(`worst delivery of a new record beside the held one: ${worst.toFixed(0)} ms; ${dest.sends} sends`);
  assert.equal(exporter.status().lastExportedSeq, 0, 'the checkpoint stays below the held record');
  dest.failing = false;
  await waitUntil(() => exporter.status().lastExportedSeq >= 16 || undefined, 'all 16 once the key heals', 10_000);
});
