// A component stopped while its start() still runs (an embedder's early stop, a failed start's
// clean-up): nothing may outlive the stop (no handle keeping the process up, no listener, no open
// file, no peer connection), and the start may not leave the component saying it runs. Each
// component documents what its start does then (resolves without running, or rejects). Real parts
// only: HTTP(S) servers, files, LevelDB stores, in-process aedes brokers as the peers (control
// broker, broker upstream), the Modbus TCP server of test/helpers/industrial.ts, real gateways.
// (The broker's own: broker-stop-during-start.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdminServer } from '../../gateway/admin/server.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileRig, numbered } from '../helpers/file-rig.js';
import { append, openStreams } from '../helpers/exporter-rig.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { createExporterSet } from '../../gateway/pipeline/exporters.js';
import { brokerOptionsSchema, createBroker } from '../../gateway/broker/index.js';
import { localChannel, upstreamChannel } from '../../gateway/control/channel.js';
import { RemoteControl } from '../../gateway/control/remote.js';
import { ProbationMonitor } from '../../gateway/control/probation.js';
import { probationOptionsSchema } from '../../gateway/control/options.js';
import { realTimers } from '../../rules/index.js';
import { createUpdateVerifier } from '../../gateway/control/verify.js';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { Registry } from 'prom-client';
import { controlUpstreamSchema } from '../../gateway/control/options.js';
import { BrokerSource } from '../../gateway/pipeline/sources/mqtt-broker.js';
import { SerialSource } from '../../gateway/pipeline/sources/serial.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { storeIntake } from '../helpers/store-intake.js';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { modbusTcpPeer, sourceDeps } from '../helpers/industrial.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { LevelLocalStreams } from '../../gateway/store/local-streams.js';
import { storeOptionsSchema } from '../../gateway/store/options.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { needBinary, silentTcpServer, tempDir, testDeps, withTimeout } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { activeResources, noHandlesAdded, openFilesUnder } from '../helpers/leaks.js';
import { emptyAdminSource } from '../helpers/admin-source.js';

const source = emptyAdminSource;

for (const tls of [false, true]) {
  test(`admin server (${tls ? 'HTTPS' : 'HTTP'}): a stop during the start wins`, { skip: tls ? needBinary('openssl', 'openssl') : undefined }, async (t) => {
    const dir = await tempDir(t);
    const options = { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, ...(tls ? { tls: opensslSelfSigned(dir) } : {}) };
    const before = activeResources();
    const admin = createAdminServer(options, { ...testDeps(), source });
    const started = admin.start();
    await admin.stop();
    const outcome = await withTimeout(
      started.then(
        () => 'resolved',
        (e: Error) => `rejected: ${e.message}`,
      ),
      5000,
      'the start ends',
    );
    assert.equal(outcome, 'resolved', 'the start resolves (without serving) once stopped');
    await noHandlesAdded(before);
  });
}

test('file source: a stop during the start wins: no file, watcher or timer is left', async (t) => {
  const rig = await fileRig(t, {});
  const logs = join(rig.dir, 'logs');
  for (let i = 0; i < 5; i++) await writeFile(join(logs, `a${i}.log`), numbered(0, 100));
  const before = activeResources();
  const started = rig.source.start(rig.intake);
  await rig.source.stop();
  await started;
  assert.notEqual(rig.source.status().state, 'running', 'the source says it runs after its stop');
  await noHandlesAdded(before);
  assert.deepEqual(openFilesUnder(logs), [], 'files left open after the stop');
});

test('exporter set: a stop during the start wins: no exporter starts after it', async (t) => {
  const streams = await openStreams(t);
  const dir = await tempDir(t);
  const options = ['a', 'b', 'c'].map((name) =>
    parseExporterOptions({ name, stream: 'up', destination: { type: 'file', dir: join(dir, name) }, batch: { maxRecords: 5, lingerMs: 10 } }),
  );
  const set = await createExporterSet(options, { ...testDeps(), streams, dataDir: dir });
  t.after(() => set.stop());
  const started = set.start();
  await set.stop();
  await started;
  assert.deepEqual(
    set.status().map((s) => [s.name, s.state]),
    options.map((o) => [o.name, 'stopped']),
    'every exporter is stopped after the stop',
  );
  assert.deepEqual(openFilesUnder(dir), [], 'export files left open after the stop');
});

test('store: a close during the open waits for it, then closes everything it opened', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'store');
  const first = new LevelLocalStreams(storeOptionsSchema.parse({ path, durability: 'os' }), testDeps());
  await first.open();
  await first.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  for (let i = 0; i < 50; i++) await first.append('s', { topic: 't', payload: Buffer.from(`r${i}`), receivedAt: Date.now() });
  await first.close();

  const before = activeResources();
  const store = new LevelLocalStreams(storeOptionsSchema.parse({ path, durability: 'os' }), testDeps());
  const opened = store.open();
  await store.close();
  await opened; // (the open, which the close waited for, succeeded)
  await noHandlesAdded(before);
  assert.deepEqual(openFilesUnder(dir), [], 'store files left open after the close');
  await assert.rejects(store.append('s', { topic: 't', payload: Buffer.from('late'), receivedAt: Date.now() }), /GH_STORE_CLOSED|closed/);
});

test('control channel (upstream): a stop during the start wins: no connection to the control broker', async (t) => {
  const office = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => undefined });
  await office.start();
  t.after(() => office.stop());
  const url = `mqtt://127.0.0.1:${office.addresses()[0]!.port}`;
  const before = activeResources();
  const channel = upstreamChannel(controlUpstreamSchema.parse({ url }), { ...testDeps(), gatewayId: 'gw-stop' });
  const started = channel.start();
  await channel.stop();
  await started;
  await noHandlesAdded(before);
  assert.equal(channel.connected(), false, 'the channel says it is connected after its stop');
  assert.deepEqual(office.clients(), [], 'clients on the control broker after the stop');
});

test('remote control: a stop during the start wins: no subscription, listener or status after it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: gw-stop\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol:\n  enabled: false\n  allowUnsigned: true\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-stop'), version: 'test' });
  t.after(() => gw.stop());
  // The gateway's broker, its subscriptions counted (subscribed minus unsubscribed).
  let subscriptions = 0;
  const channel = localChannel({
    subscribe: (filter, handler) => {
      subscriptions++;
      const off = gw.broker.subscribe(filter, handler);
      return () => {
        subscriptions--;
        off();
      };
    },
    publish: (p) => gw.broker.publish(p),
    ingest: () => undefined,
  });
  const registry = new Registry();
  const listeners = gw.rules.listenerCount('status');
  const remote = new RemoteControl(config.control, {
    ...testDeps(),
    registry,
    gatewayId: 'gw-stop',
    rules: gw.rules,
    channel,
    verifier: createUpdateVerifier(config.control, registry),
    meta: gw.streams,
  });
  const statuses: unknown[] = [];
  remote.on('status', (s) => statuses.push(s));
  const started = remote.start();
  await remote.stop();
  await started;
  assert.equal(subscriptions, 0, 'subscriptions to the control topics left on the broker after the stop');
  assert.equal(gw.rules.listenerCount('status'), listeners, "listeners left on the rules' status after the stop");
  assert.deepEqual(statuses, [], 'status documents published after the stop');
});

test('probation monitor: a stop during the start wins: the set on probation is not confirmed after it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `gatewayId: gw-stop\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol:\n  allowUnsigned: true\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-stop'), version: 'test' });
  t.after(() => gw.stop());
  const set = { version: 7, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 'archive' } }] }] };
  const applied = await gw.rules.applyFromBytes(Buffer.from(JSON.stringify(set)), 'application/json', 'admin', { probation: true });
  assert.equal(applied.state, 'applied');
  assert.equal(gw.rules.unconfirmedVersion(), 7);
  // A monitor with no probation confirms an unconfirmed set when it starts (the gateway's own runs one of 600 s).
  const monitor = new ProbationMonitor(probationOptionsSchema.parse({ seconds: 0 }), {
    ...testDeps(),
    rules: gw.rules,
    meta: gw.streams,
    timers: realTimers(() => Date.now()),
  });
  const started = monitor.start();
  await monitor.stop();
  await started;
  // The rule host runs its updates one at a time: this one ends after any the monitor asked for.
  assert.equal((await gw.rules.confirm(999, 'test')).state, 'unchanged');
  assert.equal(gw.rules.unconfirmedVersion(), 7, 'the set on probation was confirmed by a monitor already stopped');
});

test('broker source: a stop during the start wins: it does not say it runs after the stop', async (t) => {
  const streams = await openStreams(t);
  const source = await BrokerSource.create(brokerOptionsSchema.parse({ listeners: [{ host: '127.0.0.1', port: 0 }] }), testDeps());
  t.after(() => source.stop());
  const before = activeResources();
  const started = source.start(storeIntake(streams, 'up', 'broker'));
  await source.stop();
  await started;
  assert.equal(source.status().state, 'stopped', 'the state after the stop');
  await noHandlesAdded(before);
});

test('serial source: a stop during the start wins: it does not say it runs after the stop', async (t) => {
  const dir = await tempDir(t);
  const streams = await openStreams(t);
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => undefined });
  t.after(() => broker.stop());
  // A device not plugged in: the link retries, its start resolves all the same.
  const source = await SerialSource.create([SerialLinkOptionsSchema.parse({ name: 'bench', path: join(dir, 'ttyUSB9') })], { ...testDeps(), broker });
  t.after(() => source.stop());
  const before = activeResources();
  const started = source.start(storeIntake(streams, 'up', 'serial'));
  await source.stop();
  await started;
  assert.equal(source.status().state, 'stopped', 'the state after the stop');
  await noHandlesAdded(before);
});

test('rule host: a stop during the initial load wins: no engine, window timer or metric after it', async (t) => {
  const streams = await openStreams(t);
  const registry = new Registry();
  const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
  const host = new RuleHost({ ...testDeps(), registry, streams, actions: createActionRegistry({ ok }) });
  const set = { version: 1, rules: [{ name: 'win', sql: "SELECT count(*) AS n FROM 'in/#' GROUP BY TUMBLINGWINDOW(ss, 10)", actions: [{ ok: {} }] }] };
  const before = activeResources();
  const loaded = host.loadInitial(set, false);
  await host.stop();
  await loaded;
  await noHandlesAdded(before);
  assert.equal(registry.getSingleMetric('gatehouse_rule_matched_total'), undefined, "the rules' metrics after the stop");
});

test('exporter (MQTT bridge): a stop during the start wins: no connection to the broker upstream, nothing sent', async (t) => {
  const streams = await openStreams(t);
  await append(streams, 5);
  let received = 0;
  const cloud = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => void received++ });
  await cloud.start();
  t.after(() => cloud.stop());
  const url = `mqtt://127.0.0.1:${cloud.addresses()[0]!.port}`;
  const options = parseExporterOptions({ name: 'bridge', stream: 'up', destination: { type: 'mqtt', url, clientId: 'gh-early-stop', protocolVersion: 4 } });
  const deps = testDeps();
  const before = activeResources();
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  const started = exporter.start();
  await exporter.stop();
  await started;
  assert.equal(exporter.status().state, 'stopped');
  await noHandlesAdded(before);
  assert.deepEqual(cloud.clients(), [], 'clients on the broker upstream after the stop');
  assert.equal(received, 0, 'records sent after the stop');
});

test('gateway: a start that fails after loading the rules stops them', async (t) => {
  const dir = await tempDir(t);
  const held = await silentTcpServer(t); // the admin port: taken, the start fails at its end
  const file = join(dir, 'g.yaml');
  await writeFile(file, `gatewayId: gw-stop\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nadmin:\n  port: ${held.port}\n`);
  const config = await loadConfig(file, { mqttPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-stop');
  await assert.rejects(startGateway(config, { logger: testDeps().logger, registry, version: 'test' }), { code: 'GH_ADMIN_LISTEN' });
  assert.equal(registry.getSingleMetric('gatehouse_rule_matched_total'), undefined, "the rules' metrics after the failed start");
  assert.deepEqual(openFilesUnder(dir), [], 'files left open after the failed start');
});

test('modbus source (TCP): a stop during the start wins: no connection to the device, not running', async (t) => {
  const peer = await modbusTcpPeer(t);
  const streams = await openStreams(t);
  const options = modbusOptionsSchema.parse({
    type: 'modbus',
    name: 'plc',
    tcp: { host: '127.0.0.1', port: peer.port },
    timeoutMs: 300,
    devices: [{ name: 'd', groups: [{ name: 'g', intervalMs: 50, tags: [{ name: 'level', area: 'holding', address: 0 }] }] }],
  });
  const source = await modbusKind.create(options, sourceDeps(t));
  const before = activeResources();
  const started = source.start(storeIntake(streams, 'up', 'plc'));
  await source.stop();
  await started;
  assert.equal(source.status().state, 'stopped');
  await noHandlesAdded(before);
});
