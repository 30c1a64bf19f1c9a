// What an operator sees while one Kinesis shard fails (docs/upstream.md, "One failing shard"): the
// real gateway (child process) exports to kinesalite (in this process, 2 shards) through the fault
// proxy of upstream-e2e.ts (kinesalite cannot fail one shard: the proxy refuses one partition key's
// records per record, in a 200 PutRecords answer, and counts each record it refused). Real mqtt.js
// publishers. /api/streams says how many records are held (the distinct records the proxy refused:
// none of them delivered while the shard fails) and whether the window is held back at its bound;
// `gatehouse streams` and the gatehouse_export_held_records gauge say the same; after the heal, none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { waitUntil } from '../helpers/index.js';
import { startKinesalite } from '../helpers/peers.js';
import {
  GatewayHandle,
  Publisher,
  e2eConfig,
  EXPORTER,
  exporterStatus,
  kinesisSink,
  kinesisInternalFailureProxy,
  waitAllArrived,
} from '../helpers/upstream-e2e.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';

const DEVICES = 6;
/** batch.maxRecords: small, so that 600 records take the window past its span (64 batches). */
const MAX_RECORDS = 5;

interface HeldStatus {
  held: number;
  heldBack: boolean;
  lastExportedSeq: number;
  deadLetters: number;
}

async function held(gw: GatewayProcess): Promise<HeldStatus> {
  return (await exporterStatus(gw)) as unknown as HeldStatus;
}

async function heldGauge(gw: GatewayProcess): Promise<number | undefined> {
  const line = `gatehouse_export_held_records{exporter="${EXPORTER}"} `;
  const found = (await (await fetch(`${gw.adminUrl}/metrics`)).text()).split('\n').find((l) => l.startsWith(line));
  return found === undefined ? undefined : Number(found.slice(line.length));
}

/** Until the status says `heldBack` and holds as many records as the proxy refused (distinct: each
 * refused again and again), with every one of dev1's records published refused at least once. */
async function waitHeld(gw: GatewayProcess, refused: () => number, heldBack: boolean, what: string): Promise<HeldStatus> {
  let last: HeldStatus | undefined;
  try {
    return await waitUntil(
      async () => {
        last = await held(gw);
        return last.heldBack === heldBack && last.held === refused() ? last : undefined;
      },
      what,
      30_000,
      100,
    );
  } finally {
    if (last) assert.ok(last.held <= refused(), `held ${last.held} of ${refused()} refused: never more`);
  }
}

test("kinesis e2e: while one partition key's shard fails, /api/streams, gatehouse streams and the held-records gauge say how many records are held and when the window is held back; none once it heals", {
  timeout: 150_000,
}, async (t) => {
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'fleet', 2);
  const proxy = await kinesisInternalFailureProxy(t, k.url, (r) => r.key === 'dev1', 'ProvisionedThroughputExceededException');
  const destination = { type: 'kinesis', streamName: 'fleet', region: 'us-east-1', endpoint: proxy.url, accessKeyId: 'x', secretAccessKey: 'y' };
  const gw = new GatewayHandle(await e2eConfig(t, { destination, exporter: { maxAttempts: 3, batch: { maxRecords: MAX_RECORDS, lingerMs: 20 } } }), t);
  await gw.start();
  const pub = new Publisher(DEVICES, 50);

  // 60 records, 10 of dev1: the others arrive, dev1's are held, the window has room.
  await pub.publish(gw.current.mqttUrl, 60, 60);
  await waitUntil(
    async () => ((await sink.read()).filter((a) => a.d !== 'dev1').length >= 50 ? true : undefined),
    'the 50 healthy records arrived',
    30_000,
    200,
  );
  await waitUntil(() => (proxy.refused.size === 10 ? true : undefined), "dev1's 10 records refused", 30_000, 100);
  const few = await waitHeld(gw.current, () => proxy.refused.size, false, "dev1's 10 records held, not held back");
  assert.equal(few.held, 10, "each of dev1's 10 records held");
  assert.ok(few.lastExportedSeq < 2, `the checkpoint stays below dev1's first record (seq 2): ${few.lastExportedSeq}`);

  // 600 more: the window reads 64 batches past dev1's first record (seq 2), then only the held records go.
  await pub.publish(gw.current.mqttUrl, 600, 100);
  const full = await waitHeld(gw.current, () => proxy.refused.size, true, 'held back at the window bound, held = records refused');
  // The span: read up to 64 batches of 5 (+ maxAttempts 3) past seq 2, i.e. through seq 324, of
  // which about one in six is dev1's: ~54, held back by the span before the held bound (16 batches
  // of them, 80). (Not exactly 54: the publisher keeps several publishes in flight, so the stream's
  // order is not quite the round robin of devices; held = the proxy's distinct refusals, waitHeld.)
  const lastRead = 2 + MAX_RECORDS * 64 + 3 - 1;
  t.diagnostic(`held back with ${full.held} records held (proxy refused ${proxy.refused.size} distinct records); ${pub.acked.length} published`);
  const expected = Math.floor((lastRead + 4) / 6);
  assert.ok(Math.abs(full.held - expected) <= 4, `about ${expected} of dev1's records among the ${lastRead} read: ${full.held}`);
  assert.ok(full.held < 16 * MAX_RECORDS, `held back by the span, below the held bound of ${16 * MAX_RECORDS}: ${full.held}`);
  assert.equal(full.deadLetters, 0, 'held records spend no budget');
  // The gauge is refreshed every few seconds, and a record read before the window stopped may still
  // be refused after `full` was read: the gauge must come to what the status says then.
  const settled = await waitUntil(
    async () => {
      const now = await held(gw.current);
      return now.heldBack && now.held === proxy.refused.size && (await heldGauge(gw.current)) === now.held ? now : undefined;
    },
    'gatehouse_export_held_records at the held records of the status',
    15_000,
    200,
  );
  const cli = await runCaptured(main, ['streams', '--admin', gw.current.adminUrl]);
  assert.equal(cli.code, 0, cli.err);
  assert.match(
    cli.out,
    new RegExp(`-> ${EXPORTER} .*, (${settled.held}|${settled.held + 1}) held \\(throttled by the destination.*\\), HELD BACK: the window is full of them`),
  );

  proxy.heal();
  const done = await waitAllArrived(sink, pub.acked);
  assert.equal(done.duplicates, 0, 'kinesalite holds each record once (the refused ones were never stored)');
  await waitUntil(async () => ((await held(gw.current)).lastExportedSeq >= 660 ? true : undefined), 'the checkpoint passes every record', 20_000, 200);
  const after = await held(gw.current);
  assert.equal(after.held, 0, 'nothing held once the shard took them');
  assert.equal(after.heldBack, false, 'no longer held back');
  await waitUntil(async () => ((await heldGauge(gw.current)) === 0 ? true : undefined), 'gatehouse_export_held_records back at 0', 15_000, 200);
  const line = await runCaptured(main, ['streams', '--admin', gw.current.adminUrl]);
  assert.doesNotMatch(line.out, / held \(|HELD BACK/);
  assert.equal(await gw.stop(), 0);
});
