// Protocol strictness with raw TCP sockets writing crafted bytes (no client library sends these):
// ill-formed UTF-8 or U+0000 in any MQTT string closes the connection without an ack and nothing
// reaches the gateway [MQTT-1.5.3-1/2]; an unsupported protocol level gets CONNACK 0x01 [MQTT-3.1.2-2].
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { metricValue, testDeps } from '../helpers/index.js';
import { CONNACK_OK, RawClient, connectPacket, publishPacket, subscribePacket } from '../helpers/mqtt-raw.js';

async function start(t: TestContext): Promise<{ broker: Broker; deps: RuntimeDeps; port: number; received: Message[] }> {
  const deps = testDeps();
  const received: Message[] = [];
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }] },
    {
      ...deps,
      onPublish: (m) => {
        received.push(m);
        return Promise.resolve();
      },
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  return { broker, deps, port: broker.addresses()[0]!.port, received };
}

async function connected(t: TestContext, port: number, id: string): Promise<RawClient> {
  const c = await RawClient.open(port);
  t.after(() => c.destroy());
  c.write(connectPacket(id));
  const got = await c.waitBytes(4);
  assert.deepEqual(got.subarray(0, 4), CONNACK_OK);
  return c;
}

const strict = (deps: RuntimeDeps, kind: string): Promise<number> => metricValue(deps.registry, 'gatehouse_mqtt_strict_violations_total', { kind });

test('PUBLISH with an invalid UTF-8 topic closes the connection: no PUBACK, nothing stored', async (t) => {
  const { deps, port, received } = await start(t);
  const c = await connected(t, port, 'bad-utf8');
  c.write(publishPacket(Buffer.from([0x61, 0x2f, 0xff, 0xfe]), 'x', 1, 7));
  await c.waitClosed();
  assert.equal(c.bytes().length, 4, 'only the CONNACK was received, no PUBACK');
  assert.equal(received.length, 0);
  assert.equal(await strict(deps, 'utf8'), 1);
});

test('PUBLISH with U+0000 in the topic closes the connection', async (t) => {
  const { deps, port, received } = await start(t);
  const c = await connected(t, port, 'nul');
  c.write(publishPacket(Buffer.from('a/\u0000b'), 'x', 1, 7));
  await c.waitClosed();
  assert.equal(c.bytes().length, 4);
  assert.equal(received.length, 0);
  assert.equal(await strict(deps, 'nul'), 1);
});

test('SUBSCRIBE with an invalid UTF-8 filter closes the connection, no SUBACK', async (t) => {
  const { deps, port } = await start(t);
  const c = await connected(t, port, 'bad-sub');
  c.write(subscribePacket(Buffer.from([0x73, 0x2f, 0xc3]), 1));
  await c.waitClosed();
  assert.equal(c.bytes().length, 4);
  assert.equal(await strict(deps, 'utf8'), 1);
});

test('CONNECT with an invalid UTF-8 will topic is refused (closed, no CONNACK, no will stored)', async (t) => {
  const { deps, port, received } = await start(t);
  const c = await RawClient.open(port);
  t.after(() => c.destroy());
  c.write(connectPacket('will', { will: { topic: Buffer.from([0x77, 0xed, 0xa0, 0x80]), payload: Buffer.from('bye') } }));
  await c.waitClosed();
  assert.equal(c.bytes().length, 0);
  assert.equal(received.length, 0);
  assert.equal(await strict(deps, 'utf8'), 1);
});

test('CONNECT with protocol level 7 gets CONNACK 0x01 before the close', async (t) => {
  const { deps, port } = await start(t);
  const c = await RawClient.open(port);
  t.after(() => c.destroy());
  c.write(connectPacket('v7', { level: 7 }));
  await c.waitClosed();
  assert.deepEqual(c.bytes(), Buffer.from([0x20, 0x02, 0x00, 0x01]));
  assert.equal(await strict(deps, 'protocol-level'), 1);
});

test('valid multi-byte UTF-8 topics still work (the check refuses only ill-formed ones)', async (t) => {
  const { port, received } = await start(t);
  const c = await connected(t, port, 'ok');
  c.write(publishPacket('capteurs/température/€', 'x', 1, 9));
  const got = await c.waitBytes(8);
  assert.deepEqual(got.subarray(4, 8), Buffer.from([0x40, 0x02, 0x00, 0x09]), 'PUBACK for id 9');
  assert.equal(received[0]?.topic, 'capteurs/température/€');
});
