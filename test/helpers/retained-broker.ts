// A broker over a retained set and mqtt.js clients against it, every await bounded: the rig of the
// retained-delivery tests (broker-retained-subscribe, broker-retained-unsubscribe).
import type { TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker, type Broker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { testDeps } from './index.js';

/** The promise, or a failure naming `what` after `ms`: a step that never ends fails naming itself rather than holding the file. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A broker on a free loopback port, stopped after the test. */
export async function startBroker(t: TestContext, opts: BrokerOptionsInput = {}): Promise<{ broker: Broker; deps: RuntimeDeps; url: string }> {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }], ...opts }, { ...deps, onPublish: () => Promise.resolve() });
  await broker.start();
  t.after(() => within(10_000, 'broker stop', broker.stop()));
  return { broker, deps, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

/**
 * `count` retained messages on <prefix>/<i>, half at QoS 0 and half at QoS 1, payload `v<i>.0` padded
 * to `bytes`: through the broker's own publish (stored as a client's are; a client's publishes are
 * held to maxPublishRatePerClient, 1,000/s, which made the set take 20 s).
 */
export async function retainSet(broker: Broker, count: number, bytes: number, prefix = 'ret'): Promise<void> {
  const pad = 'x'.repeat(Math.max(0, bytes - 12));
  for (let i = 0; i < count; i++)
    await within(
      10_000,
      `retain ${prefix}/${i}`,
      broker.publish({ topic: `${prefix}/${i}`, payload: Buffer.from(`v${i}.0 ${pad}`), qos: i % 2 === 0 ? 0 : 1, retain: true }),
    );
}

/** An mqtt.js client that does not reconnect, ended after the test (connectAsync never settles on a close: bounded). */
export async function connectClient(t: TestContext, url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await within(10_000, `connect ${opts.clientId}`, mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts }));
  t.after(() => within(10_000, `end ${opts.clientId}`, c.endAsync(true)).catch(() => undefined));
  return c;
}

export const closedOf = (c: MqttClient): Promise<void> => new Promise<void>((resolve) => c.once('close', () => resolve()));
