// When the broker reads a 3.1.1 client's socket while its publishes wait for their commit
// (gateway/broker/read-gate.ts): aedes alone reads no more until every packet of the last read is
// answered, so a publish arriving behind a read of two waited in the socket for their commit (it
// then missed the commit window open meanwhile). Now a publish in a commit slot lets the socket
// be read on; one waiting beyond maxInflight still holds it. A raw socket (real TCP, the real
// broker), commits held by the test.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker, type BrokerOptionsInput } from '../../gateway/broker/index.js';
import type { Message } from '../../core/message.js';
import { waitUntil } from '../helpers/index.js';

async function setup(t: TestContext, options: BrokerOptionsInput = {}) {
  // mqtt-packet after the broker: it must load through gateway/broker/quiet-debug.ts
  const { default: mqttPacket } = await import('mqtt-packet');
  const received: Message[] = [];
  const commits: Array<() => void> = [];
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }], ...options },
    {
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      onPublish: (msg) => {
        received.push(msg);
        return new Promise<void>((r) => commits.push(r));
      },
    },
  );
  await broker.start();
  t.after(async () => {
    for (const c of commits.splice(0)) c();
    await broker.stop();
  });
  const sock = netConnect(broker.addresses()[0]!.port, '127.0.0.1');
  sock.on('error', () => undefined);
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  const got: Array<{ cmd: string; messageId?: number }> = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => got.push(p));
  sock.on('data', (d: Buffer) => parser.parse(d));
  sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'gate', clean: true, keepalive: 60 }));
  await waitUntil(() => got.some((p) => p.cmd === 'connack'), 'CONNACK');
  const publishes = (...ids: number[]): Buffer =>
    Buffer.concat(
      ids.map((id) =>
        mqttPacket.generate({ cmd: 'publish', topic: 'gate/t', payload: Buffer.from(`m${id}`), qos: 1, messageId: id, retain: false, dup: false }),
      ),
    );
  return { sock, got, received, commits, publishes };
}

test('3.1.1: a publish behind a read of two is read while those two wait for their commit', async (t) => {
  const s = await setup(t);
  s.sock.write(s.publishes(1, 2)); // one write: one read of two publishes
  await waitUntil(() => s.received.length === 2, 'both handed to the gateway');
  s.sock.write(s.publishes(3));
  // aedes alone leaves it in the socket until the commit of 1 and 2 ends (none ends here)
  await waitUntil(() => s.received.length === 3, 'the third read while the first two are uncommitted', 3000);
  assert.equal(s.commits.length, 3);
  assert.equal(s.got.filter((p) => p.cmd === 'puback').length, 0, 'no PUBACK before its commit');
  for (const c of s.commits.splice(0)) c();
  await waitUntil(() => s.got.filter((p) => p.cmd === 'puback').length === 3, 'three PUBACKs');
  assert.deepEqual(
    s.got.filter((p) => p.cmd === 'puback').map((p) => p.messageId),
    [1, 2, 3],
  );
  // the count aedes reads by is back where it was: more publishes are read and answered
  s.sock.write(s.publishes(4, 5));
  await waitUntil(() => s.received.length === 5, 'the next two');
  for (const c of s.commits.splice(0)) c();
  await waitUntil(() => s.got.filter((p) => p.cmd === 'puback').length === 5, 'five PUBACKs');
});

test('3.1.1: at maxInflight a read of more publishes waits; they are handed on in order as commits end', async (t) => {
  const s = await setup(t, { maxInflight: 2 });
  s.sock.write(s.publishes(1, 2, 3, 4));
  await waitUntil(() => s.received.length === 2, 'two in flight');
  s.sock.write(s.publishes(5));
  // nothing frees a slot: 3 and 4 wait in the gateway, and no further publish reaches it
  await new Promise((r) => setImmediate(r));
  assert.equal(s.received.length, 2, 'no slot, no hand-over');
  while (s.received.length < 5 || s.commits.length > 0) {
    await waitUntil(() => s.commits.length > 0, 'a pending commit');
    s.commits.shift()!();
  }
  await waitUntil(() => s.got.filter((p) => p.cmd === 'puback').length === 5, 'five PUBACKs');
  assert.deepEqual(
    s.received.map((m) => m.payload.toString()),
    ['m1', 'm2', 'm3', 'm4', 'm5'],
  );
});
