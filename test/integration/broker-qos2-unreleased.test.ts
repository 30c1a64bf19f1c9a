// MQTT 3.1.1 QoS 2 publishes acknowledged (PUBREC) and never released (no PUBREL) are held by the
// broker until their PUBREL: a client choosing fresh packet ids could make it hold up to 65,535 of
// them, each up to maxPayloadBytes. aedes bounds them per connection (maxInflightInbound, 1,000):
// one more closes the connection, counted as a protocol error (docs/broker.md, Limits). MQTT 5 has
// its own bound (Receive Maximum = maxInflight, DISCONNECT 0x93). A raw socket, as no client library
// withholds PUBREL; the real broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBroker } from '../../gateway/broker/index.js';
import { metricValue, testDeps } from '../helpers/index.js';
import { RawClient, connectPacket, publishPacket } from '../helpers/mqtt-raw.js';

const UNRELEASED_MAX = 1000;

test('a 3.1.1 client withholding PUBREL gets at most 1,000 QoS 2 publishes acknowledged; the next closes its connection (a protocol error)', async (t) => {
  const deps = testDeps();
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...deps, onPublish: () => undefined });
  await broker.start();
  t.after(() => broker.stop());
  const raw = await RawClient.open(broker.addresses()[0]!.port);
  t.after(() => raw.destroy());
  raw.write(connectPacket('no-pubrel'));
  await raw.waitBytes(4);
  for (let id = 1; id <= UNRELEASED_MAX; id++) raw.write(publishPacket('plant/q2', `m${id}`, 2, id));
  // CONNACK, then one PUBREC (4 bytes) per publish
  const got = await raw.waitBytes(4 + UNRELEASED_MAX * 4, 15_000);
  assert.equal(raw.closed, false, 'still connected with 1,000 unreleased');
  assert.equal(got.subarray(4).filter((_, i) => i % 4 === 0 && got[4 + i] === 0x50).length, UNRELEASED_MAX, 'a PUBREC for each');
  raw.write(publishPacket('plant/q2', 'one more', 2, UNRELEASED_MAX + 1));
  await raw.waitClosed(5000);
  assert.equal(raw.bytes().length, 4 + UNRELEASED_MAX * 4, 'no PUBREC for the one over the bound');
  assert.ok((await metricValue(deps.registry, 'gatehouse_mqtt_protocol_errors_total')) >= 1, 'counted as a protocol error');
});
