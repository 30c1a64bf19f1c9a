// The `nats` rule action names its JetStream stream with `jetStream`: its `stream` is the action's
// local stream options, as in every upstream action, so it could name none (every nats action
// published to the default GATEHOUSE, and `stream: FLEET` was refused as 'expected object,
// received string'). Real in-process gateway, real mqtt.js client, nats-server -js (Debian
// package nats-server).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { connect } from 'nats';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');

async function gatewayWith(t: TestContext, action: string): Promise<Gateway> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const rules = `rules:\n  version: 1\n  rules:\n    - name: up\n      sql: "SELECT * FROM 'fleet/#'"\n      actions:\n        - nats: ${action}\n`;
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${rules}`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

test('nats action: jetStream names the JetStream stream the records land in', { skip }, async (t) => {
  const peer = await startNats(t);
  const nc = await connect({ servers: peer.url });
  t.after(() => nc.close());
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'FLEET', subjects: ['fleet.>'] });
  const gw = await gatewayWith(
    t,
    `{ servers: "${peer.url}", subject: "fleet.\${topic}", jetStream: FLEET, reconnectWaitMs: 100, exporter: { batch: { lingerMs: 20 } } }`,
  );
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await Promise.all([0, 1, 2, 3, 4, 5].map((i) => c.publishAsync(`fleet/truck${i % 3}/engine`, JSON.stringify({ i }), { qos: 1 })));
  await c.endAsync();
  await waitUntil(async () => (await jsm.streams.info('FLEET')).state.messages === 6, '6 records in FLEET', 15_000);
  const exporter = gw.exporters.status().find((e) => e.name.startsWith('nats-'));
  assert.match(exporter?.destination.target ?? '', /\/FLEET$/);
});

test("nats action: a name given to stream (the local stream's options) is refused, naming jetStream", { skip }, async (t) => {
  const peer = await startNats(t);
  await assert.rejects(gatewayWith(t, `{ servers: "${peer.url}", stream: FLEET }`), /local stream options .*name the nats stream with jetStream: NAME/s);
});
