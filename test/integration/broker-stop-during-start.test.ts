// A broker stopped while its start() still runs (an embedder's stop, a failed start's clean-up):
// before, the start went on after the stop. aedes' listen() set its two heartbeat timers after its
// close (never cleared: the process did not exit), the retained file's journal was opened after its
// close (a file handle left open), and the listener began to listen after the stop returned, start()
// resolving as if the broker were up. Real broker, real mqtt.js client, real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { activeResources, noHandlesAdded, openFilesUnder } from '../helpers/leaks.js';

const brokerOn = (retainedFile: string): Promise<Broker> =>
  createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => undefined, retainedFile });

test('broker: a stop during the start wins: no listener, timer or state file is left open, and the retained messages are kept', async (t) => {
  const dir = await tempDir(t);
  const retainedFile = join(dir, 'retained.json');
  const first = await brokerOn(retainedFile);
  await first.start();
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  for (let i = 0; i < 20; i++) await c.publishAsync(`r/${i}`, `v${i}`, { retain: true, qos: 1 });
  await c.endAsync();
  await first.stop();

  const before = activeResources();
  const broker = await brokerOn(retainedFile);
  const started = broker.start();
  await broker.stop();
  await started;
  assert.deepEqual(openFilesUnder(dir), [], 'files left open after the stop');
  await noHandlesAdded(before);

  // What the stopped start loaded is still on disk: a broker on the file serves all 20.
  const again = await brokerOn(retainedFile);
  await again.start();
  t.after(() => again.stop());
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${again.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  t.after(() => sub.endAsync());
  const got = new Set<string>();
  sub.on('message', (topic) => got.add(topic));
  await sub.subscribeAsync('r/#', { qos: 1 });
  await waitUntil(() => got.size === 20, 'the 20 retained messages after the stopped start', 5000);
});
