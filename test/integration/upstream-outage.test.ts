// Outage recovery on real parts (real store, real exporter loop, real HTTP peer speaking the
// Firehose protocol): an HTTP upstream down for several seconds, then back. With the default
// backoff the backlog starts draining within a few seconds of its return (outageMaxMs caps the
// backoff of whole-send failures), not after a window that doubled during the outage. The delay
// is measured and printed; the assertion bound is generous (a busy CI machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';

const OUTAGE_MS = 8000;

test('http upstream down for 8 s then back: the backlog drains within seconds of its return', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'telemetry', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  // Default backoff (initialMs 200, maxMs 30 s, outageMaxMs 3 s) and default retries.
  const options = parseExporterOptions({
    name: 'cloud',
    stream: 'telemetry',
    destination: { type: 'http', url: rx.url, timeoutMs: 2000 },
    batch: { lingerMs: 20 },
  });
  const destination = createDestination(options.destination, deps);
  const exporter = createExporter(options, { ...deps, streams, destination });
  await exporter.start();
  t.after(() => exporter.stop());

  const append = async (from: number, n: number): Promise<void> => {
    for (let i = from; i < from + n; i++)
      await streams.append('telemetry', { topic: 't', payload: Buffer.from(JSON.stringify({ i })), receivedAt: Date.now() });
  };
  await append(0, 50);
  await waitUntil(() => rx.acceptedRecords >= 50, 'the first records are delivered', 10_000);

  await rx.down();
  await append(50, 500);
  // The outage itself is the scenario: it lasts OUTAGE_MS, during which the exporter keeps failing.
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  assert.ok(exporter.status().retries > 0, 'the exporter retried during the outage');
  assert.equal(rx.acceptedRecords, 50);

  const accepted = waitForEvent(rx, 'accepted', 30_000);
  const back = Date.now();
  await rx.up();
  await accepted;
  const delay = Date.now() - back;
  await waitUntil(() => rx.acceptedRecords >= 550, 'the whole backlog is delivered', 30_000);
  console.log(`# outage of ${OUTAGE_MS} ms: export resumed ${delay} ms after the upstream returned (outageMaxMs 3000 => expected under ~3.5 s)`);
  assert.ok(delay < 10_000, `export resumed ${delay} ms after the upstream returned`);
  const seen = new Set(rx.uniqueRecords());
  for (let i = 0; i < 550; i++) assert.ok(seen.has(JSON.stringify({ i })), `record ${i} delivered`);
});
