// Dropping a stream with its records across kill -9 (store/drop.ts: one write): the real gateway
// (child process) with three streams removed from its config (old1..old3, ~3,000 records each,
// found on disk only and defined at start) while `up` is exported to the real Firehose-protocol
// receiver and devices keep publishing to it. Each round sends a drop and kills the gateway -9: as
// soon as the request is sent (the drop in flight or not begun), once its warning is logged (the
// write done, the answer not sent), after the answer. After each restart the stream is whole
// (listed with every record) or gone (no key of it left, no warning), the other old streams hold
// all theirs, and at the end every record acknowledged into `up` arrived upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { GatewayHandle, Publisher, receiverSink, waitAllArrived } from '../helpers/upstream-e2e.js';
import { writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const PER_STREAM = 3000;
const OLD = ['old1', 'old2', 'old3'];

interface Row {
  name: string;
  records: number;
  undrained?: boolean;
}

async function streamsOf(gw: GatewayProcess): Promise<Map<string, Row>> {
  const body = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Row[] };
  return new Map(body.streams.map((s) => [s.name, s]));
}

test('a drop of a stream holding records leaves it whole or gone across a kill -9, and loses nothing of the other streams', { timeout: 240_000 }, async (t) => {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  const dir = await tempDir(t, 'gatehouse-drop-e2e-');
  const exporter = { name: 'e', stream: 'up', destination: { type: 'http', url: rx.url }, batch: { maxRecords: 50, lingerMs: 10 }, bandwidthKbps: 200 };
  const config = (version: number, old: boolean) =>
    JSON.stringify({
      dataDir: join(dir, 'data'),
      log: { level: 'info' },
      streams: { up: { maxBytes: 64 * 1024 * 1024 }, ...(old ? Object.fromEntries(OLD.map((n) => [n, { maxBytes: 64 * 1024 * 1024 }])) : {}) },
      rules: {
        version,
        rules: [
          { name: 'up', sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: 'up', partitionKey: '${topic(2)}' } }] },
          ...(old ? OLD.map((n) => ({ name: n, sql: `SELECT * FROM '${n}/+'`, actions: [{ stream: { name: n } }] })) : []),
        ],
      },
      exporters: [exporter],
    });
  const file = await writeConfig(dir, config(1, true));
  const gw = new GatewayHandle(file, t);
  await gw.start();
  const client = await mqtt.connectAsync(gw.current.mqttUrl, { clientId: 'drop-e2e', reconnectPeriod: 0 });
  const pad = 'y'.repeat(300);
  for (const n of OLD) {
    for (let k = 0; k < PER_STREAM; k += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, i) => client.publishAsync(`${n}/a`, JSON.stringify({ n, i: k + i, pad }), { qos: 1 })));
    }
  }
  await client.endAsync();
  assert.equal(await gw.stop(), 0);

  // The streams removed from the config: found on disk, defined, warned about.
  await writeConfig(dir, config(2, false));
  await gw.start();
  for (const n of OLD) {
    const row = (await streamsOf(gw.current)).get(n);
    assert.deepEqual([row?.records, row?.undrained], [PER_STREAM, true], n);
  }
  const pub = new Publisher();
  const sink = receiverSink(rx);
  const outcomes: string[] = [];
  const kills: Array<(g: GatewayProcess, answer: Promise<unknown>) => Promise<void>> = [
    async () => undefined, // at once: the request in flight
    async (g) => {
      const name = OLD[1] as string;
      await waitUntil(() => g.logs.some((l) => l.stream === name && /dropped by an operator/.test(String(l.msg))), 'the drop logged', 30_000, 1);
    },
    async (_g, answer) => {
      await answer;
    },
  ];
  for (const [round, name] of OLD.entries()) {
    const g = gw.current;
    // Acknowledged before the drop; the exporter (slowed down) still sends them when the kill lands.
    await pub.publish(g.mqttUrl, 400);
    const answer = fetch(`${g.adminUrl}/api/streams/${name}?records=${PER_STREAM}`, { method: 'DELETE' }).then(
      async (r) => `${r.status}`,
      () => 'killed',
    );
    await kills[round]!(g, answer);
    await gw.kill9();
    const answered = await answer;
    await gw.start();
    const after = gw.current;
    const streams = await streamsOf(after);
    const row = streams.get(name);
    const warned = after.logs.some((l) => l.stream === name && l.level === 40);
    // Whole (with every record, warned about again) or gone (not listed, no warning): nothing between.
    if (row) {
      assert.deepEqual([row.records, warned], [PER_STREAM, true], `${name} is whole`);
    } else {
      assert.equal(warned, false, `${name} is gone: no warning`);
    }
    if (round === 2) assert.equal(row, undefined, 'answered 200 before the kill: gone');
    for (const other of OLD.slice(round + 1)) assert.equal(streams.get(other)?.records, PER_STREAM, `${other} untouched`);
    assert.equal(
      after.logs.some((l) => (l.level as number) >= 50),
      false,
      'the start logged no error',
    );
    outcomes.push(`${name}: answer ${answered}, ${row ? 'whole' : 'gone'}`);
    if (row) {
      // Still there: the drop goes now.
      const again = await fetch(`${after.adminUrl}/api/streams/${name}?records=${PER_STREAM}`, { method: 'DELETE' });
      assert.equal(again.status, 200);
    }
  }
  t.diagnostic(outcomes.join('; '));
  const tally = await waitAllArrived(sink, pub.acked, 90_000);
  assert.equal(tally.missing.length, 0, 'every record acknowledged into up arrived upstream');
  assert.ok(pub.acked.length > 0);
  // The last start after every drop: none of them on disk.
  assert.equal(await gw.stop(), 0);
  await gw.start();
  const last = await streamsOf(gw.current);
  assert.deepEqual(
    OLD.filter((n) => last.has(n)),
    [],
  );
  assert.equal(
    gw.current.logs.some((l) => OLD.includes(String(l.stream))),
    false,
    'no line about them at the next start',
  );
  t.diagnostic(`up: ${pub.acked.length} acknowledged, all arrived`);
  assert.equal(await gw.stop(), 0);
});
