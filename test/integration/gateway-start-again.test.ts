// An embedder starts the gateway again on the registry it gave the first start: after that start
// failed (a port still taken, freed a moment later) or after a normal stop. The second start must
// start (not fail with a metric "declared twice" or "already been registered"), and its /metrics
// must read its own parts, not the collect of the first, dead gateway. What was on the registry
// before the gateway (the embedder's own metrics) stays. Real gateways, real mqtt.js clients, and
// for the start that waited for disk space a real full filesystem (a small tmpfs: needs root).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { gauge } from '../../core/metrics.js';
import { silentTcpServer, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

async function configFile(t: TestContext, adminPort: number, dataDir?: string): Promise<string> {
  const dir = await tempDir(t);
  dataDir ??= join(dir, 'data');
  const file = join(dir, 'g.yaml');
  await writeFile(file, `gatewayId: gw-again\ndataDir: ${JSON.stringify(dataDir)}\nexporters: []\nadmin:\n  port: ${adminPort}\n`);
  return file;
}

function start(config: Awaited<ReturnType<typeof loadConfig>>, registry: Registry): Promise<Gateway> {
  return startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
}

/** One line of the gateway's /metrics (the admin API), its value. */
async function scraped(gw: Gateway, line: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${gw.admin!.address().port}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

/** A client on the gateway's broker, with one QoS 1 publish acknowledged unless told not: live values to read. */
async function oneClient(t: TestContext, gw: Gateway, publish = true): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  if (publish) await client.publishAsync('data/again', 'x', { qos: 1 });
}

test('gateway: a start that failed (admin port taken) then a start on the same registry starts, its /metrics live', async (t) => {
  const held = await silentTcpServer(t);
  const config = await loadConfig(await configFile(t, held.port), { mqttPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-again');
  await assert.rejects(start(config, registry), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'GH_ADMIN_LISTEN');
    assert.match(err.message, new RegExp(`^admin API cannot listen on 127\\.0\\.0\\.1:${held.port}: listen EADDRINUSE`));
    return true;
  });
  // The port freed a moment later (the embedder retries).
  await new Promise<void>((resolve) => held.server.close(() => resolve()));
  const gw = await start(config, registry);
  t.after(() => gw.stop());
  await oneClient(t, gw);
  assert.equal(await scraped(gw, 'gatehouse_mqtt_clients'), 1, "the second gateway's broker, read at scrape time");
  assert.equal(await scraped(gw, 'gatehouse_mqtt_messages_in_total{qos="1"}'), 1, "the second gateway's publishes");
});

test('gateway: start, stop, start on one registry: the second starts and reads its own values; the embedder keeps its metrics', async (t) => {
  const config = await loadConfig(await configFile(t, 0), { mqttPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-again');
  const first = await start(config, registry);
  // The embedder's own metric, declared beside the running gateway (collect: one owner).
  gauge(registry, 'embedder_queue_depth', 'the embedding program', [], {
    collect() {
      this.set(3);
    },
  });
  await oneClient(t, first);
  await first.stop();
  assert.equal(registry.getSingleMetric('gatehouse_mqtt_clients'), undefined, "the stopped gateway's broker metrics");
  assert.equal(registry.getSingleMetric('gatehouse_admin_requests_total'), undefined, "the stopped gateway's admin metrics");
  assert.notEqual(registry.getSingleMetric('gatehouse_info'), undefined, 'a metric on the registry before the start is kept');
  assert.notEqual(registry.getSingleMetric('embedder_queue_depth'), undefined, "the embedder's metric declared meanwhile is kept");

  const second = await start(config, registry);
  t.after(() => second.stop());
  await oneClient(t, second);
  assert.equal(await scraped(second, 'gatehouse_mqtt_clients'), 1, "the second gateway's broker, read at scrape time");
  assert.equal(await scraped(second, 'gatehouse_mqtt_messages_in_total{qos="1"}'), 1, "counted from the second start (not the first gateway's publish)");
  assert.equal(await scraped(second, 'embedder_queue_depth'), 3);
});

test('gateway: a start that waited for disk space and was aborted, then a start on the same registry starts', { skip: smallFsSkip() }, async (t) => {
  const root = await mountSmallFs(t, 4);
  const config = await loadConfig(await configFile(t, 0, join(root, 'data')), { mqttPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-again');
  // Every free byte taken: the store cannot open, the start waits with its admin API up.
  await writeFiller(join(root, 'filler'), freeBytes(root) + 1024 * 1024).catch(() => undefined);
  const abort = new AbortController();
  let waiting = false;
  const started = startGateway(config, { logger: testDeps().logger, registry, version: 'test', signal: abort.signal, onStoreWait: (w) => (waiting = w) });
  await waitUntil(() => waiting, 'the start waits for disk space', 10_000);
  abort.abort(new Error('stopped while waiting'));
  await assert.rejects(started, /stopped while waiting/);
  await unlink(join(root, 'filler'));
  const gw = await start(config, registry);
  t.after(() => gw.stop());
  // Connected only: 4 MiB is under the store's reserve, a QoS 1 publish would wait for space.
  await oneClient(t, gw, false);
  assert.equal(await scraped(gw, 'gatehouse_mqtt_clients'), 1, "the second gateway's broker, read at scrape time");
});
