// A store on a card that fails writes (EIO), its log bounded: 'rule state checkpoint failed' came at
// every checkpoint of every stateful rule for as long as the card failed (40 lines in 2 s at
// checkpointIntervalMs 50; 360 an hour per rule at the default 10 s); now the first at once, one a
// minute per error with the count, and 'rule state checkpoints work again' with failures and
// failingMs. The store's own 'group commit failed' is measured here too: on EIO it is a debug line
// (the disk guard says 'store not writable' once), 0 lines at info in 20 refused publishes.
// The card is a stand-in: test/helpers/eio-shim.c, an LD_PRELOAD shim compiled here with gcc
// that fails (GH_EIO_OPS write) writes and flushes of files under the store while a flag file
// exists (no failing card exists where the tests run). The gateway runs as `gatehouse start` (bin/gatehouse.js), a window rule checkpointing every
// 50 ms, MQTT clients publishing at QoS 1: every publish is PUBACKed only once stored, and what is
// refused while the card fails is refused, never PUBACKed and lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { buildEioShim, eioEnv, eioSkip } from '../helpers/eio-shim.js';

const lines = (gw: GatewayProcess, msg: RegExp): Record<string, unknown>[] => gw.logs.filter((l) => msg.test(String(l.msg)));

async function counter(gw: GatewayProcess, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** Publish at QoS 1 (MQTT 5): 'acked' for a PUBACK with success, else the refusal (a 0x97 PUBACK: the store is not writable). */
async function publish(c: mqtt.MqttClient, v: number): Promise<string> {
  try {
    await c.publishAsync('d/1', JSON.stringify({ v }), { qos: 1 });
    return 'acked';
  } catch (err) {
    return (err as Error).message;
  }
}

test('EIO on the store: one checkpoint-failed line for every failed checkpoint, one when they work again; no group commit line at info; every PUBACKed publish stored, every refused one refused', {
  skip: eioSkip,
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-eiow-');
  const so = await buildEioShim(dir);
  const flag = join(dir, 'eio-on');
  await writeFile(
    join(dir, 'rules.yaml'),
    [
      'version: 1',
      'rules:',
      '  - name: all',
      "    sql: SELECT * FROM 'd/#'",
      '    actions: [{ stream: { name: s } }]',
      '  - name: win',
      "    sql: SELECT count(*) AS n FROM 'd/#' GROUP BY TUMBLINGWINDOW(hh, 1)",
      '    actions: [{ stream: { name: w } }]',
      '',
    ].join('\n'),
  );
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'rulesFile: rules.yaml',
      'exporters: []',
      'streams:',
      '  s: { maxBytes: 1048576 }',
      '  w: { maxBytes: 1048576 }',
      'ruleState:',
      '  checkpointIntervalMs: 50',
      '',
    ].join('\n'),
  );
  const gw = await startGatewayProcess(config, [], 20_000, [], eioEnv(so, { ops: 'write', match: '/data/store/', flag }));
  t.after(() => gw.kill9());
  const c = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'p', reconnectPeriod: 100, protocolVersion: 5 });
  t.after(() => c.endAsync(true));
  const outcome = new Map<number, string>();
  outcome.set(0, await publish(c, 0));
  assert.equal(outcome.get(0), 'acked');

  // The card fails every write and flush under the store: checkpoints fail every 50 ms, publishes are refused.
  await writeFile(flag, '');
  for (let v = 1; v <= 20; v++) outcome.set(v, await publish(c, v));
  const failed = 'gatehouse_rule_state_checkpoints_total';
  await waitUntil(async () => (await counter(gw, failed, 'result="failed"')) >= 20, 'twenty failed checkpoints', 20_000);
  const checkpointFailed = /^rule state checkpoint failed$/;
  assert.equal(lines(gw, checkpointFailed).length, 1, `one line for ${await counter(gw, failed, 'result="failed"')} failed checkpoints`);
  assert.equal(lines(gw, /group commit failed/).length, 0, 'the group commits refused are said by the disk guard, once');
  assert.equal(lines(gw, /store not writable/).length, 1);

  // The card works again: the store reopens, checkpoints are written, one line says so with the count.
  await rm(flag);
  const works = await waitUntil(() => lines(gw, /^rule state checkpoints work again$/)[0], 'checkpoints work again', 30_000);
  assert.equal(works.failures, await counter(gw, failed, 'result="failed"'), 'the line counts every failure the counter counts');
  assert.ok(Number(works.failingMs) > 0);
  assert.equal(lines(gw, checkpointFailed).length, 1);
  await waitUntil(async () => (await publish(c, 100)) === 'acked', 'a publish PUBACKed once the store is writable', 20_000, 100);
  for (let v = 21; v <= 25; v++) outcome.set(v, await publish(c, v));

  // The promise: every PUBACKed publish is in the stream. A refused one may be there too (measured:
  // the first, whose commit failed at the log's flush: its bytes were in LevelDB's log, which the
  // reopen replays): the client sends it again, a duplicate, as at least once allows; never a loss.
  const res = (await (await fetch(`${gw.adminUrl}/api/streams/s/records?from=1&limit=1000`)).json()) as { records: Array<{ payload: string }> };
  const stored = new Set(res.records.map((r) => (JSON.parse(r.payload) as { v: number }).v).filter((v) => v !== 100));
  const acked = [...outcome].filter(([, o]) => o === 'acked').map(([v]) => v);
  const refused = [...outcome].filter(([, o]) => o !== 'acked');
  assert.ok(refused.length >= 15, `publishes refused while the card failed: ${JSON.stringify(refused)}`);
  assert.ok(
    refused.every(([, o]) => /Quota exceeded/.test(o)),
    JSON.stringify(refused),
  );
  for (const v of acked) assert.ok(stored.has(v), `PUBACKed ${v} stored: ${JSON.stringify([...stored])}`);
  assert.ok(refused.filter(([v]) => stored.has(v)).length <= 1, 'at most the commit the fault met is both refused and stored');
});
