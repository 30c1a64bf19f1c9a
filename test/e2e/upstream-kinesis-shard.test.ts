// Upstream end to end, kinesis destination, one shard failing: the real gateway (child process)
// exports to kinesalite (in this process, 2 shards) through the fault proxy of upstream-e2e.ts
// (kinesalite cannot fail one shard: the proxy refuses one partition key's records per record, in a
// 200 PutRecords answer, and stores the others in kinesalite). Real mqtt.js publishers.
//
// One partition key failing (a hot or sick shard) held back every other key: its records were
// resent alone, throttled again, and the records behind them waited (21 of 1,200 exported in 40 s,
// round 30). Now they are held and join later batches beside the others' records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { waitUntil } from '../helpers/index.js';
import { startKinesalite } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  e2eConfig,
  exporterStatus,
  kinesisSink,
  kinesisInternalFailureProxy,
  waitAllArrived,
  STREAM,
  streamRecords,
} from '../helpers/upstream-e2e.js';

const DEVICES = 6;
const RECORDS = 1200;
/** How long the healthy keys' records get while dev1's shard fails. */
const WINDOW_MS = 40_000;

for (const code of ['InternalFailure', 'ProvisionedThroughputExceededException']) {
  test(`kinesis e2e: one partition key's shard failing every record (${code}) holds back none of the other keys; all arrive once it heals`, {
    timeout: 150_000,
  }, async (t) => {
    const k = await startKinesalite(t);
    const sink = await kinesisSink(t, k.url, 'fleet', 2);
    const proxy = await kinesisInternalFailureProxy(t, k.url, (r) => r.key === 'dev1', code);
    const destination = { type: 'kinesis', streamName: 'fleet', region: 'us-east-1', endpoint: proxy.url, accessKeyId: 'x', secretAccessKey: 'y' };
    const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter: { maxAttempts: 3 } }), t);
    await gw.start();
    const pub = new Publisher(DEVICES, 50);
    const started = performance.now();
    await pub.publish(gw.current.mqttUrl, RECORDS, 100);
    const healthy = pub.acked.filter((a) => a.d !== 'dev1');
    // dev1's first record is the second published: stream sequence 2. The checkpoint must stay
    // below it while the shard fails, however many records behind it are delivered.
    let checkpointMax = 0;
    let arrived = 0;
    await waitUntil(
      async () => {
        checkpointMax = Math.max(checkpointMax, (await exporterStatus(gw.current)).lastExportedSeq);
        const got = new Set((await sink.read()).filter((a) => a.d !== 'dev1').map((a) => `${a.d}:${a.i}`));
        arrived = got.size;
        return arrived >= healthy.length || performance.now() - started >= WINDOW_MS || undefined;
      },
      'every healthy record arrived, or the window ended',
      WINDOW_MS + 10_000,
      200,
    ).catch(() => undefined);
    const seconds = (performance.now() - started) / 1000;
    const during = await exporterStatus(gw.current);
    t.diagnostic(
      `${code}: ${arrived} of ${healthy.length} healthy records (of ${RECORDS}) arrived in ${seconds.toFixed(1)} s while dev1's shard failed; dev1's first record refused ${proxy.refused.get(JSON.stringify({ d: 'dev1', i: 0, pad: 'x'.repeat(50) })) ?? 0} times; checkpoint at most ${checkpointMax}`,
    );
    assert.ok(arrived >= 0.9 * healthy.length, `at least 90% of the healthy records arrive while the shard fails: ${arrived} of ${healthy.length}`);
    assert.ok(checkpointMax < 2, `the checkpoint never passes dev1's first record (seq 2) while it fails: ${checkpointMax}`);
    assert.equal(during.deadLetters, 0, 'nothing dead-lettered while the shard fails');
    proxy.heal();
    const done = await waitAllArrived(sink, pub.acked);
    assert.equal(done.duplicates, 0, 'kinesalite holds each record once (the refused ones were never stored)');
    const st = await exporterStatus(gw.current);
    assert.equal(st.deadLetters, 0);
    assert.deepEqual(await streamRecords(gw.current, `${STREAM}-dlq`), []);
    await waitUntil(async () => (await exporterStatus(gw.current)).lastExportedSeq >= RECORDS || undefined, 'the checkpoint passes every record', 20_000, 200);
    assert.equal(await gw.stop(), 0);
  });
}
