// Lookup tables in the real gateway: readings published by mqtt.js are enriched from a CSV table
// by get_dynamodb() into a stream (read back through the admin API); the file changed and SIGHUP:
// the new rows used; a broken file and SIGHUP: the old rows kept, the error logged and counted
// (gatehouse_table_reload_failures_total); a start with a broken table refused, naming file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitUntil } from '../helpers/index.js';
import { spawnGatewayLogged, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const RULES = `version: 1
rules:
  - name: enrich
    sql: >-
      SELECT id, temp, get_dynamodb('assets', 'sensor', id, 'arn:aws:iam::123456789012:role/read').asset AS asset,
      temp > get_dynamodb('assets', 'sensor', id, 'arn:aws:iam::123456789012:role/read').maxTemp AS over
      FROM 'plant/+/temp'
    actions: [{ stream: { name: enriched } }]
`;

async function setup(t: import('node:test').TestContext, csv: string) {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'assets.csv'), csv);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nstreams: { enriched: { maxBytes: 1048576 } }\nexporters: []\ntables:\n  assets: { file: assets.csv, key: sensor }\n`,
  );
  return { dir, config };
}

test('readings enriched from a CSV table into a stream; SIGHUP takes a changed file, keeps the old rows of a broken one', async (t) => {
  const { dir, config } = await setup(t, 'sensor,asset,maxTemp\n17,press-4,80\n18,"oven 2, line B",240\n');
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  assert.ok(gw.logs.some((l) => l.msg === 'lookup tables loaded'));
  const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'plc', reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  let read = 0;
  // QoS 1: the PUBACK comes once the rule's stream append is committed
  const publishAndRead = async (payload: object): Promise<Record<string, unknown>> => {
    await client.publishAsync('plant/1/temp', JSON.stringify(payload), { qos: 1 });
    read++;
    const r = (await (await fetch(`${gw.adminUrl}/api/streams/enriched/records?from=${read}&limit=1`)).json()) as { records: Array<{ payload: string }> };
    assert.equal(r.records.length, 1);
    return JSON.parse(r.records[0]!.payload) as Record<string, unknown>;
  };
  assert.deepEqual(await publishAndRead({ id: 17, temp: 91 }), { id: 17, temp: 91, asset: 'press-4', over: true });
  assert.deepEqual(await publishAndRead({ id: '18', temp: 91 }), { id: '18', temp: 91, asset: 'oven 2, line B', over: false });
  assert.deepEqual(await publishAndRead({ id: 99, temp: 91 }), { id: 99, temp: 91 }, 'no row: the fields from it are left out');

  const reloads = () => gw.logs.filter((l) => l.msg === 'reload: lookup tables read again').length;
  // the file changed: the new limit and a new row, after SIGHUP
  await writeFile(join(dir, 'assets.csv'), 'sensor,asset,maxTemp\n17,press-4,95\n99,pump-9,10\n');
  gw.proc.kill('SIGHUP');
  await waitUntil(() => reloads() === 1, 'the first reload', 10_000);
  assert.deepEqual(await publishAndRead({ id: 17, temp: 91 }), { id: 17, temp: 91, asset: 'press-4', over: false });
  assert.deepEqual(await publishAndRead({ id: 99, temp: 91 }), { id: 99, temp: 91, asset: 'pump-9', over: true });

  // a broken file (a duplicate key): the old rows kept, the error logged with file and line, counted
  await writeFile(join(dir, 'assets.csv'), 'sensor,asset,maxTemp\n17,press-4,1\n17,press-5,1\n');
  gw.proc.kill('SIGHUP');
  await waitUntil(() => reloads() === 2, 'the second reload', 10_000);
  const err = gw.logs.find((l) => l.msg === 'reload: lookup table assets did not load; its previous contents are kept');
  assert.ok(err, JSON.stringify(gw.logs.slice(-5)));
  assert.match(String(err.err), /table assets: line 3 has the key '17' of line 2/);
  assert.deepEqual(await publishAndRead({ id: 17, temp: 91 }), { id: 17, temp: 91, asset: 'press-4', over: false }, 'still the rows of the last good file');
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /gatehouse_table_reload_failures_total\{table="assets"\} 1/);
  assert.match(metrics, /gatehouse_table_rows\{table="assets"\} 2/);
  assert.equal(await gw.stop(), 0);
});

test('a start with a table that does not load is refused, naming the table, its file and line', async (t) => {
  const { dir, config } = await setup(t, 'sensor,asset\n17,press-4\n18\n');
  const gw = spawnGatewayLogged(config);
  t.after(() => gw.proc.kill('SIGKILL'));
  const code = await gw.exited;
  assert.notEqual(code, 0);
  const text = JSON.stringify(gw.logs);
  assert.match(text, /GH_TABLE_LOAD/);
  assert.match(text, /table assets: line 3 has 1 fields, the header 2/);
  assert.ok(text.includes(`${join(dir, 'assets.csv')}:3`), text);
});
