// MQTT bridge and NATS destinations whose peer refuses every publish of a batch, each on its own:
// a real mosquitto whose ACL does not let the bridge publish (MQTT 5 PUBACK 0x87), a real
// nats-server whose user lacks publish permission, and a JetStream with no stream for the subject.
// gatehouse_destination_calls_total says why (reason auth / client, from the same fixed set as a
// call that failed as a whole), each record's failure is counted by code, and its error names the
// topic or subject, the refusal and what to change. Before: `retryable` without a reason, an ACL
// refusal counted nowhere, 'Publish error: Not authorized' / 'no JetStream stream captures this
// subject: NatsError: 503' as the last error, and a 'NATS server error' log line per refused record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { freePort, metricValue, needBinary, tempDir, waitUntil, which } from '../helpers/index.js';

/** A peer child process from a config file, SIGKILLed after the test. */
async function startPeer(t: TestContext, bin: string, conf: string, text: string): Promise<() => Promise<void>> {
  await writeFile(conf, text);
  const child = spawn(which(bin)!, ['-c', conf], { stdio: 'ignore' });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  };
  t.after(kill);
  return kill;
}

/** Deps whose log lines (warn and above) are kept, parsed. */
function loggingDeps(): RuntimeDeps & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { logger, registry: new Registry(), lines };
}

let seq = 0;
const records = (topic: string, n: number): StoredRecord[] =>
  Array.from({ length: n }, () => ({ stream: 'up', seq: ++seq, topic, receivedAt: Date.now(), payload: Buffer.from('{"t":1}') }));

/** A send of `batch` once the destination is connected (a send while connecting throws). */
async function sendConnected(dest: Destination, batch: StoredRecord[]): Promise<RecordResult[]> {
  return waitUntil(
    async () => {
      try {
        return await dest.send(batch, new AbortController().signal);
      } catch (err) {
        if (/not connected/.test(errorMessage(err))) return undefined;
        throw err;
      }
    },
    'a send once connected',
    15_000,
  );
}

const failures = (results: RecordResult[]): Array<RecordResult & { ok: false }> => results.filter((r): r is RecordResult & { ok: false } => !r.ok);

test('mqtt bridge: a batch the broker ACL refuses record by record counts reason auth, each record NOT_AUTHORIZED, the error names topic and fix', {
  skip: needBinary('mosquitto', 'mosquitto'),
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-mosq-acl-');
  const port = await freePort(t);
  await writeFile(join(dir, 'acl'), 'topic readwrite ok/#\n');
  await startPeer(
    t,
    'mosquitto',
    join(dir, 'm.conf'),
    `listener ${port} 127.0.0.1\nallow_anonymous true\nacl_file ${join(dir, 'acl')}\nuser ${userInfo().username}\n`,
  );
  const deps = loggingDeps();
  const url = `mqtt://127.0.0.1:${port}`;
  const dest = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse({ url, clientId: 'site1-acl', reconnectMinMs: 50, reconnectMaxMs: 200 }), deps);
  await dest.start();
  t.after(() => dest.stop());
  const target = dest.target;

  const results = await sendConnected(dest, records('fleet/d1/t', 3));
  const failed = failures(results);
  assert.equal(failed.length, 3, JSON.stringify(results));
  for (const f of failed) {
    assert.equal(f.code, 'NOT_AUTHORIZED');
    assert.equal(f.retryable, true, 'held in the stream until the ACL is fixed');
    assert.equal(f.setup, true, 'the ACL is the setup: retried at the normal pace, not the outage cap');
    // Before: 'ErrorWithReasonCode: Publish error: Not authorized'.
    assert.match(
      f.error,
      /the broker refused the PUBLISH to 'fleet\/d1\/t': Not authorized \(PUBACK reason 0x87\): its ACL does not let client 'site1-acl' publish there; allow the topic on the broker/,
    );
  }
  // Before: outcome retryable without a reason, no record failure counted.
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'mqtt', target, outcome: 'retryable', reason: 'auth' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'mqtt', target, code: 'NOT_AUTHORIZED' }), 3);

  // A batch the ACL lets partly through is partial (no reason), its refused record counted.
  const mixed = await dest.send([...records('ok/d1/t', 2), ...records('fleet/d1/t', 1)], new AbortController().signal);
  assert.deepEqual(
    mixed.map((r) => r.ok),
    [true, true, false],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'mqtt', target, outcome: 'partial' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'mqtt', target, code: 'NOT_AUTHORIZED' }), 4);
});

test('nats: a batch refused record by record (no publish permission, no stream for the subject) counts reason auth / client, names the subject and the fix, and logs the server error once', {
  skip: needBinary('nats-server', 'nats-server'),
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-nats-perm-');
  const port = await freePort(t);
  const killNats = await startPeer(
    t,
    'nats-server',
    join(dir, 'nats.conf'),
    `listen: 127.0.0.1:${port}
jetstream { store_dir: "${join(dir, 'js')}" }
max_payload: 4096
authorization {
  users = [
    { user: gw, password: pw, permissions: { publish: { allow: ["$JS.API.>", "_INBOX.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
    { user: nojs, password: pw, permissions: { publish: { allow: ["gatehouse.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
    { user: admin, password: pw }
  ]
}
`,
  );
  const servers = [`nats://127.0.0.1:${port}`];
  const make = async (deps: RuntimeDeps, o: Record<string, unknown>): Promise<Destination> => {
    const dest = createNatsDestination(natsOptionsSchema.parse({ servers, stream: 'GH', password: 'pw', reconnectWaitMs: 100, ...o }), deps);
    await dest.start();
    t.after(() => dest.stop());
    return dest;
  };
  // The stream GH (gatehouse.>), created by a destination allowed to write it.
  const adminDeps = loggingDeps();
  const admin = await make(adminDeps, { user: 'admin', subject: 'gatehouse.${stream}', createStream: true });
  assert.ok((await sendConnected(admin, records('fleet/d1/t', 1)))[0]!.ok);

  // A batch of records each over the server's max_payload: permanent (dead-lettered), reason client.
  const big = records('fleet/d1/t', 2).map((r) => ({ ...r, payload: Buffer.alloc(8192, 0x61) }));
  const tooLarge = failures(await admin.send(big, new AbortController().signal));
  assert.deepEqual(
    tooLarge.map((f) => [f.code, f.retryable]),
    [
      ['TOO_LARGE', false],
      ['TOO_LARGE', false],
    ],
  );
  // Before: outcome retryable, without a reason.
  assert.equal(await metricValue(adminDeps.registry, 'gatehouse_destination_calls_total', { outcome: 'permanent', reason: 'client' }), 1);

  // No publish permission on the subject.
  const deps = loggingDeps();
  const denied = await make(deps, { user: 'gw', subject: 'gatehouse.${stream}' });
  let failed = failures(await sendConnected(denied, records('fleet/d1/t', 3)));
  assert.equal(failed.length, 3);
  for (const f of failed) {
    assert.equal(f.code, 'PERMISSIONS_VIOLATION');
    assert.equal(f.setup, true);
    assert.match(
      f.error,
      /the NATS server refused the publish to 'gatehouse\.up' \(.*Permissions Violation.*\): give the destination's user publish permission on it/,
    );
  }
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { target: denied.target, outcome: 'retryable', reason: 'auth' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { target: denied.target, code: 'PERMISSIONS_VIOLATION' }), 3);
  // Again: the server's error (one per refused record) is logged once, not once per record.
  await denied.send(records('fleet/d1/t', 3), new AbortController().signal);
  const serverErrors = deps.lines.filter((l) => l.msg === 'NATS server error');
  assert.equal(serverErrors.length, 1, JSON.stringify(serverErrors));

  // A subject no stream captures (the stream exists: its subjects are another's).
  const deps2 = loggingDeps();
  const nostream = await make(deps2, { user: 'admin', subject: 'nostream.${stream}' });
  failed = failures(await sendConnected(nostream, records('fleet/d1/t', 2)));
  assert.equal(failed.length, 2);
  for (const f of failed) {
    assert.equal(f.code, 'NO_STREAM');
    assert.equal(f.setup, true);
    assert.match(f.error, /no JetStream stream captures subject 'nostream\.up' \(.*\): add it to the subjects of stream 'GH' \(nats stream edit GH/);
  }
  assert.equal(await metricValue(deps2.registry, 'gatehouse_destination_calls_total', { target: nostream.target, outcome: 'retryable', reason: 'client' }), 1);

  // A user who may not call JetStream's API: the stream check fails, saying which permission is missing.
  const deps3 = loggingDeps();
  const nojs = await make(deps3, { user: 'nojs', subject: 'gatehouse.${stream}' });
  const err = await waitUntil(
    async () => {
      const m = await nojs.send(records('fleet/d1/t', 1), new AbortController().signal).then(
        () => 'sent',
        (e: unknown) => errorMessage(e),
      );
      return /not connected/.test(m) ? undefined : m;
    },
    'a send once connected',
    15_000,
  );
  // Before: '... Fix: the records wait in the local stream and are retried with backoff'.
  assert.match(
    err,
    /JetStream stream check failed: .*Permissions Violation for Publish to "\$JS\.API\.INFO".*Fix: give the destination's user publish permission on \$JS\.API\.>/,
  );
  assert.equal(await metricValue(deps3.registry, 'gatehouse_destination_calls_total', { target: nojs.target, outcome: 'retryable', reason: 'auth' }), 1);

  // No such stream (createStream: false): the setup's fault, reason client (docs/destinations.md), not server.
  const deps4 = loggingDeps();
  const nope = await make(deps4, { user: 'admin', subject: 'gatehouse.${stream}', stream: 'NOPE' });
  const missing = await waitUntil(
    async () => {
      const e = await nope.send(records('fleet/d1/t', 1), new AbortController().signal).then(
        () => undefined,
        (x: unknown) => x,
      );
      return e instanceof GatehouseError && e.code === 'GH_DESTINATION_CONFIG' ? e : undefined;
    },
    'the missing stream refused',
    15_000,
  );
  assert.match(
    missing.describe(),
    /^GH_DESTINATION_CONFIG: nats destination is invalid \(1 problem\):\n {2}- nats\.stream: JetStream stream 'NOPE' does not exist \(at nats\.stream\)\. Fix: create it \(nats stream add NOPE/,
  );
  assert.equal((missing.details as { setup?: unknown } | undefined)?.setup, true, 'retried at the normal pace, not as an outage');
  // Before: reason server.
  assert.equal(await metricValue(deps4.registry, 'gatehouse_destination_calls_total', { target: nope.target, outcome: 'retryable', reason: 'client' }), 1);

  // The server goes away: the destination that met permission violations says it is not connected,
  // not that the server refused its credentials (the violations were about a subject).
  await killNats();
  const down = await waitUntil(
    async () => {
      const m = await denied.send(records('fleet/d1/t', 1), new AbortController().signal).then(
        () => 'sent',
        (e: unknown) => errorMessage(e),
      );
      return /not connected/.test(m) ? m : undefined;
    },
    'the send refused as not connected',
    15_000,
  );
  assert.doesNotMatch(down, /PERMISSIONS_VIOLATION|credentials/, down);
  assert.match(down, /Fix: check that the NATS server is reachable/);
});

test('mqtt bridge to a broker that closes the connection on a PUBLISH its ACL denies (a Gatehouse upstream, as AWS IoT Core): the error names the topic, the ACL or policy and the client', {
  timeout: 90_000,
}, async (t) => {
  // A real Gatehouse gateway as the upstream broker: anonymous clients may publish to ok/# only.
  const dir = await tempDir(t, 'gatehouse-upstream-acl-');
  const file = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nbroker:\n  acl:\n    anonymous:\n      - { topic: 'ok/#', access: readwrite }\nexporters: []\n`,
  );
  const upstream = await startGatewayProcess(file);
  t.after(() => upstream.kill9());
  const bridge = async (protocolVersion: 4 | 5): Promise<{ dest: Destination; deps: ReturnType<typeof loggingDeps> }> => {
    const deps = loggingDeps();
    const o = { url: upstream.mqttUrl, clientId: `site1-v${protocolVersion}`, protocolVersion, reconnectMinMs: 50, reconnectMaxMs: 200 };
    const dest = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse(o), deps);
    await dest.start();
    t.after(() => dest.stop());
    return { dest, deps };
  };

  // MQTT 3.1.1 cannot refuse a PUBLISH: the broker closes the connection. Before, the error
  // named only a packet size limit (and maxRecordBytes), for a record that was 7 bytes.
  const v4 = await bridge(4);
  const cut = failures(await sendConnected(v4.dest, records('fleet/d1/t', 3)));
  assert.equal(cut.length, 3);
  for (const f of cut) {
    assert.equal(f.code, 'CUT_OFF');
    assert.match(
      f.error,
      /closed the connection before any PUBACK of this send \(3 records; this one to 'fleet\/d1\/t'\): a broker drops a client whose PUBLISH its policy or ACL does not allow \(AWS IoT Core, Gatehouse: check that client 'site1-v4' may publish to the topic/,
    );
    assert.match(f.error, /packet size limit .*maxRecordBytes/, 'the other cause is still named');
  }

  // MQTT 5: Gatehouse refuses it with PUBACK 0x87, as mosquitto does.
  const v5 = await bridge(5);
  const refused = failures(await sendConnected(v5.dest, records('fleet/d1/t', 2)));
  assert.deepEqual(
    refused.map((f) => f.code),
    ['NOT_AUTHORIZED', 'NOT_AUTHORIZED'],
  );
  assert.equal(await metricValue(v5.deps.registry, 'gatehouse_destination_calls_total', { outcome: 'retryable', reason: 'auth' }), 1);
});
