// MQTT 5 properties mqtt-packet's parser lets through malformed (gateway/broker/v5/properties.ts),
// found by test/e2e/fuzz-mqtt5.test.ts: the exact bytes, against the real broker with a real mqtt.js
// MQTT 5 subscriber, and a commit that is asynchronous as it is for any topic a rule stores.
// A user property whose value runs past the end of the PUBLISH was parsed as null and went to the
// subscriber, where encoding the PUBLISH threw outside every handler: an uncaught exception, the
// gateway stopped (this test process is the gateway: node:test fails it on an uncaught exception).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { createBroker } from '../../gateway/broker/index.js';
import { testDeps, withTimeout } from '../helpers/index.js';
import { RawClient } from '../helpers/mqtt-raw.js';

async function startBroker(t: TestContext) {
  // every publish's commit takes a few ms, as the store's group commit does
  const commit = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: commit });
  await broker.start();
  t.after(() => broker.stop());
  return broker.addresses()[0]!.port;
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
/** A packet: its first byte, then the remaining length (under 128 here) and the body. */
const packet = (first: number, body: string): Buffer => {
  const b = hex(body);
  return Buffer.concat([Buffer.from([first, b.length]), b]);
};
/** CONNECT v5, client id 'p', clean start, keep alive 60, no properties. */
const CONNECT_P = packet(0x10, '0004 4d515454 05 02 003c 00 0001 70');

/** Send bytes on a raw socket after CONNECT; the broker's answer after the CONNACK. */
async function sendAfterConnect(port: number, bytes: Buffer): Promise<Buffer> {
  const c = await RawClient.open(port);
  try {
    c.write(Buffer.concat([CONNECT_P, bytes]));
    await c.waitClosed(5000);
    const all = c.bytes();
    assert.equal(all[0], 0x20, 'a CONNACK first');
    return all.subarray(2 + all[1]!);
  } finally {
    c.destroy();
  }
}

test('a PUBLISH whose user property runs past the end of the packet: DISCONNECT 0x81; the MQTT 5 subscriber and the gateway go on', async (t) => {
  const port = await startBroker(t);
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync('t/#', { qos: 1 });
  // PUBLISH QoS 1 't/1' id 1, properties (6 bytes): User Property name 'k', value of 0xffff bytes (none follow)
  const answer = await sendAfterConnect(port, packet(0x32, '0003 742f31 0001 06 26 0001 6b ffff'));
  assert.equal(answer[0], 0xe0, `DISCONNECT, got ${answer.toString('hex')}`);
  assert.equal(answer[2], 0x81, 'reason code 0x81 Malformed Packet');
  // the subscriber was not disconnected and the broker still routes
  const got = new Promise<string>((resolve) => sub.once('message', (_topic, p) => resolve(p.toString())));
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('t/2', 'after', { qos: 1, properties: { userProperties: { k: 'v' } } });
  assert.equal(await withTimeout(got, 5000, 'the next message'), 'after');
});

test('correlation data running past the end of the packet: DISCONNECT 0x81', async (t) => {
  const port = await startBroker(t);
  // PUBLISH QoS 0 't/1', properties (3 bytes): Correlation Data of 0x0100 bytes (none follow)
  const answer = await sendAfterConnect(port, packet(0x30, '0003 742f31 03 09 0100'));
  assert.deepEqual([answer[0], answer[2]], [0xe0, 0x81], answer.toString('hex'));
});

test('a property given twice (Topic Alias 1 and 2): DISCONNECT 0x82 Protocol Error [MQTT-2.2.2-2]', async (t) => {
  const port = await startBroker(t);
  // PUBLISH QoS 0 't/1', properties (6 bytes): Topic Alias 1, Topic Alias 2; payload 'x'
  const answer = await sendAfterConnect(port, packet(0x30, '0003 742f31 06 23 0001 23 0002 78'));
  assert.deepEqual([answer[0], answer[2]], [0xe0, 0x82], answer.toString('hex'));
});

test("a CONNECT whose will's user property runs past the end of the packet: CONNACK 0x81, no session", async (t) => {
  const port = await startBroker(t);
  const c = await RawClient.open(port);
  t.after(() => c.destroy());
  // CONNECT v5 'w', will flag, no properties; will properties (6 bytes): User Property 'k' = 0xffff bytes; will topic 'w/1', payload 'x'
  c.write(packet(0x10, '0004 4d515454 05 06 003c 00 0001 77 06 26 0001 6b ffff 0003 772f31 0001 78'));
  await c.waitClosed(5000);
  const answer = c.bytes();
  assert.deepEqual([answer[0], answer[3]], [0x20, 0x81], answer.toString('hex'));
});
