// An office changes a rule's upstream destination (PUT /api/rules) while that destination is down,
// and the gateway is then killed (kill -9) and started again: the records the old action's stream
// held, PUBACKed to devices before the update, still reach the old destination once it is back.
// The start-up log names the stream and what it holds, /api/streams shows its exporter retiring,
// and the exporter goes once the stream is drained. Real gateway process, real mqtt.js client, the
// real Firehose-protocol receiver taken down and brought back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { startGatewayProcess, startRulesGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { waitUntil } from '../helpers/index.js';

const EXPORTER = { batch: { lingerMs: 20 }, backoff: { initialMs: 20, maxMs: 100, outageMaxMs: 100 } };

function rules(version: number, url: string): { version: number; rules: unknown[] } {
  return { version, rules: [{ name: 'up', sql: "SELECT * FROM 'fleet/+/engine'", actions: [{ http: { url, exporter: EXPORTER } }] }] };
}

interface ExporterRow {
  name: string;
  retiring?: boolean;
}

async function exportersOf(gw: GatewayProcess): Promise<ExporterRow[]> {
  const body = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ exporters: ExporterRow[] }> };
  return body.streams.flatMap((s) => s.exporters);
}

test('kill -9 after a rule update changed an upstream destination: the old stream is exported to the old destination, then its exporter retires', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  await receiver.down();
  const { gw, dir } = await startRulesGateway(t, JSON.stringify(rules(1, receiver.url)));
  const c = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0 });
  await Promise.all(Array.from({ length: 5 }, (_, i) => c.publishAsync('fleet/truck1/engine', JSON.stringify({ i }), { qos: 1 })));
  await c.endAsync();
  const [old] = await exportersOf(gw);
  assert.ok(old, 'the v1 action has an exporter');

  const res = await fetch(`${gw.adminUrl}/api/rules`, { method: 'PUT', body: JSON.stringify(rules(2, `${receiver.url}v2`)) });
  const status = (await res.json()) as { state: string };
  assert.equal(status.state, 'applied', JSON.stringify(status));
  await gw.kill9();

  const again = await startGatewayProcess(join(dir, 'gatehouse.yaml'));
  t.after(() => again.kill9());
  const warning = again.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('no rule uses any more holds records not exported'));
  assert.ok(warning, `a start-up warning names the stream left: ${JSON.stringify(again.logs.map((l) => l.msg))}`);
  assert.equal(warning.stream, old.name);
  assert.equal(warning.records, 5);
  assert.equal((await exportersOf(again)).find((e) => e.name === old.name)?.retiring, true, '/api/streams shows it retiring');

  await receiver.up();
  await waitUntil(() => receiver.uniqueRecords().length >= 5, "the 5 records of the old action's stream at the old destination", 20_000);
  assert.deepEqual(
    receiver
      .uniqueRecords()
      .map((r) => (JSON.parse(r) as { i: number }).i)
      .sort((a, b) => a - b),
    [0, 1, 2, 3, 4],
  );
  await waitUntil(async () => !(await exportersOf(again)).some((e) => e.name === old.name), 'the drained exporter gone from /api/streams', 10_000, 100);
  // Logged once its kept options are deleted, just after it left the set (and /api/streams): waited for, not assumed.
  await waitUntil(
    () => again.logs.some((l) => l.msg === 'exporter of a stream no rule uses any more retired: everything it held was exported' && l.exporter === old.name),
    'its retirement logged',
    5000,
  );
});
