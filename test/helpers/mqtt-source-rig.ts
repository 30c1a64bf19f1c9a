// For the MQTT source's tests with Gatehouse's own broker as the remote one (no Debian package
// needed): the broker on a free port, a real store with the stream `down`, and the wait until a
// source is connected with every subscription granted.
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { tempDir, testDeps, waitUntil } from './index.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { createBroker } from '../../gateway/broker/index.js';
import type { MqttSubscribeSource } from '../../gateway/pipeline/sources/mqtt/source.js';
import type { RuntimeDeps } from '../../core/deps.js';

export interface RemoteBrokerRig {
  deps: RuntimeDeps;
  /** mqtt://127.0.0.1:<port> of the remote broker. */
  url: string;
  dir: string;
  store: LocalStreams;
}

export async function remoteBrokerRig(t: TestContext, durability: 'fsync' | 'os'): Promise<RemoteBrokerRig> {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const dir = await tempDir(t);
  const store = await openLocalStreams({ path: join(dir, 'store'), durability }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'down', maxBytes: 1 << 26, onFull: 'reject' });
  return { deps, url, dir, store };
}

/** Until the source is connected and every subscription has its SUBACK. */
export async function subscribed(source: MqttSubscribeSource): Promise<void> {
  await waitUntil(() => {
    const d = source.status().details as { subscriptions: Array<{ qos: number | null }> };
    return source.status().state === 'connected' && d.subscriptions.every((s) => s.qos !== null);
  }, 'the source connected and subscribed');
}
