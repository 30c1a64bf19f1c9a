// A destination that refuses every record for the gateway's setup (a real mosquitto whose ACL does
// not let the bridge publish: MQTT 5 PUBACK 0x87, each record on its own) is retried at the normal
// pace (backoff.maxMs), as a refused credential is, not at the outage's (backoff.outageMaxMs, 3 s by
// default): an ACL does not change between two tries. Nothing is counted against the records and
// nothing is dead-lettered; once the ACL lets the bridge publish, every record is delivered.
// Before: `outage: true` in /api/streams and a PUBLISH refused every 1.5 s on average, for ever
// (`gatehouse streams`: 'an outage or a storm if it lasts').
// And records the ACL refuses among others it allows (a poison record, item 7 of docs/upstream.md)
// are tried on a backoff of their own while the others go through, then dead-lettered after
// maxAttempts; before, the loop slept after each of their tries and held every other record back.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt from 'mqtt';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { freePort, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';

interface ExporterJson {
  name: string;
  state: string;
  outage: boolean;
  setupFault?: boolean;
  parked: number;
  deadLetters: number;
  retries: number;
  exportedRecords: number;
  lastError?: { message: string; current: boolean };
}

async function exporterOf(gw: GatewayProcess): Promise<ExporterJson> {
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  const body = (await res.json()) as { streams: Array<{ name: string; exporters: ExporterJson[] }> };
  return body.streams.find((s) => s.name === 'up')!.exporters[0]!;
}

/** Calls of the bridge that the broker refused as a whole, record by record, for its ACL (reason auth). */
async function refusedCalls(gw: GatewayProcess): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('gatehouse_destination_calls_total{') && /outcome="retryable"/.test(l) && /reason="auth"/.test(l));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** A mosquitto whose ACL lets anyone publish under ok/# only, and a gateway bridging every topic to it (exporter 'bridge' with `backoff`, `extra`). */
async function aclRig(t: TestContext, exporterYaml: string) {
  const dir = await tempDir(t, 'gatehouse-acl-pace-');
  const port = await freePort(t);
  const acl = join(dir, 'acl');
  await writeFile(acl, 'topic readwrite ok/#\n');
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nacl_file ${acl}\nuser ${userInfo().username}\n`);
  const mosq = spawn(which('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (mosq.exitCode === null && mosq.signalCode === null) {
      const exited = new Promise((resolve) => mosq.once('exit', resolve));
      mosq.kill('SIGKILL');
      await exited;
    }
  });
  await writeFile(join(dir, 'rules.yaml'), "version: 1\nrules:\n  - name: up\n    sql: SELECT * FROM '#'\n    actions: [{ stream: { name: up } }]\n");
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
rulesFile: rules.yaml
streams: { up: {} }
exporters:
  - name: bridge
    stream: up
    destination: { type: mqtt, url: 'mqtt://127.0.0.1:${port}', clientId: gw-acl-pace, reconnectMinMs: 50, reconnectMaxMs: 200 }
${exporterYaml}`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'truck', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  return { gw, mosq, acl, pub };
}

test('mqtt bridge: a broker ACL refusing every record is retried at the normal pace (not the outage cap), nothing counted or dead-lettered, all delivered once allowed', {
  skip: needBinary('mosquitto', 'mosquitto'),
  timeout: 90_000,
}, async (t) => {
  // outageMaxMs far below maxMs: the old pace (outage) and the new one (maxMs) are told apart in seconds.
  const { gw, mosq, acl, pub } = await aclRig(t, '    backoff: { initialMs: 50, outageMaxMs: 100, maxMs: 3000 }\n');
  for (let i = 1; i <= 5; i++) await pub.publishAsync(`fleet/d${i}/t`, '{"t":1}', { qos: 1 });

  // The batch is resent once, split and its records held alone (a few tries at the outage's pace, so
  // that records behind refused ones soon go on); then each try waits as a refused credential does.
  await waitUntil(async () => (await exporterOf(gw)).parked === 5, 'the 5 refused records held alone', 30_000, 50);
  // A window to measure the pace in: at the outage cap (100 ms) it held ~40 refused calls or more.
  const first = await refusedCalls(gw);
  await delay(4000);
  const calls = (await refusedCalls(gw)) - first;
  assert.ok(calls <= 12, `refused calls in 4 s: ${calls} (the outage pace: a try every 100 ms at most)`);

  const e = await exporterOf(gw);
  assert.equal(e.outage, false, JSON.stringify(e));
  assert.equal(e.setupFault, true, JSON.stringify(e));
  assert.equal(e.deadLetters, 0);
  assert.equal(e.exportedRecords, 0);
  assert.match(e.lastError?.message ?? '', /Not authorized \(PUBACK reason 0x87\): its ACL does not let client 'gw-acl-pace' publish there/);

  // The ACL fixed (mosquitto reads acl_file again on SIGHUP): every record goes, none was lost.
  await writeFile(acl, 'topic readwrite #\n');
  mosq.kill('SIGHUP');
  const done = await waitUntil(
    async () => {
      const x = await exporterOf(gw);
      return x.exportedRecords === 5 ? x : undefined;
    },
    'the 5 records delivered once the ACL allows them',
    30_000,
    100,
  );
  assert.equal(done.deadLetters, 0);
  assert.equal(done.setupFault, false);
  assert.equal(done.outage, false);
});

test('mqtt bridge: records an ACL refuses while others go through do not hold the others back: each is tried on a backoff of its own, then dead-lettered after maxAttempts', {
  skip: needBinary('mosquitto', 'mosquitto'),
  timeout: 120_000,
}, async (t) => {
  const { gw, pub } = await aclRig(t, '    backoff: { initialMs: 100, outageMaxMs: 100, maxMs: 2000 }\n    maxAttempts: 10\n');
  let ok = 0;
  const publishOk = async (): Promise<void> => {
    await pub.publishAsync(`ok/d${++ok}/t`, '{"t":1}', { qos: 1 });
  };
  // Five records the ACL refuses among others it allows; the five are isolated and held alone.
  for (let i = 1; i <= 5; i++) {
    await pub.publishAsync(`fleet/d${i}/t`, '{"t":1}', { qos: 1 });
    await publishOk();
  }
  await waitUntil(async () => (await exporterOf(gw)).parked === 5, 'the 5 refused records held alone', 30_000, 50);

  // A steady stream meanwhile (10 a second for 3 s) goes through as it comes. Before: the loop slept
  // after each refused try of each of the five, and let one record through per round of five sleeps
  // (~5 s here; ~1 a minute with the default backoff).
  for (let i = 0; i < 30; i++) {
    await publishOk();
    await delay(100);
  }
  const caughtUp = await waitUntil(
    async () => {
      const x = await exporterOf(gw);
      return x.exportedRecords === ok ? x : undefined;
    },
    `the ${ok} allowed records delivered while the refused ones are held`,
    // Before the fix the ~35 allowed records took ~175 s (one per round of five sleeps); 20 s
    // leaves room for a machine running other suites (it took more than 5 s once beside two CIs).
    20_000,
    50,
  );
  assert.ok(caughtUp.deadLetters < 5, `still trying the refused records: ${JSON.stringify(caughtUp)}`);

  // Each accepted record is evidence against the refused ones: they are dead-lettered after
  // maxAttempts counted tries, each on its own backoff (100 ms doubling, up to 2 s).
  await waitUntil(
    async () => {
      await publishOk();
      return (await exporterOf(gw)).deadLetters === 5;
    },
    'the 5 refused records dead-lettered',
    60_000,
    100,
  );
  const done = await waitUntil(
    async () => {
      const x = await exporterOf(gw);
      return x.exportedRecords === ok ? x : undefined;
    },
    'every allowed record delivered',
    10_000,
    50,
  );
  assert.equal(done.parked, 0);
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  const body = (await res.json()) as { streams: Array<{ name: string; records: number; lastSeq: number }> };
  const dlq = body.streams.find((s) => s.name === 'up-dlq')!;
  assert.equal(dlq.lastSeq, 5, 'exactly the five refused records in the dead-letter stream');
});
