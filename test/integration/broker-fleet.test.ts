// The MQTT fleet simulator against the real broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createBroker } from '../../gateway/broker/index.js';
import { fleetPayload, runMqttFleet } from '../../gateway/simulate/mqtt-fleet.js';
import { parseDuration, runSimulateMqtt } from '../../gateway/cli/simulate-mqtt.js';
import type { Message } from '../../core/message.js';
import { testDeps } from '../helpers/index.js';

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  return { stream, text: () => out };
}

test('fleetPayload is JSON of the requested size', () => {
  const p = fleetPayload(200, 7, 1700000000000);
  assert.equal(Buffer.byteLength(p), 200);
  assert.equal(JSON.parse(p).rpm, 2007);
  assert.ok(Buffer.byteLength(fleetPayload(10, 1, 1)) > 10, 'never truncates the JSON');
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('abc'), undefined);
});

test('runMqttFleet: count at max rate with QoS 1 and a fixed rate with QoS 0, all reach onPublish', async (t) => {
  const received: Message[] = [];
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: (m) => void received.push(m) });
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const r = await runMqttFleet({ url, devices: 3, qos: 1, count: 300, ratePerDevice: 0, payloadBytes: 150 });
  assert.equal(r.sent, 300);
  assert.equal(r.acked, 300);
  assert.equal(received.length, 300);
  assert.ok(r.latencyMs.p99 >= r.latencyMs.p50 && r.latencyMs.p50 > 0);
  assert.deepEqual(new Set(received.map((m) => m.topic)), new Set(['fleet/sim-0/engine', 'fleet/sim-1/engine', 'fleet/sim-2/engine']));
  assert.equal(received[0]!.payload.length, 150);
  const r0 = await runMqttFleet({ url, devices: 2, qos: 0, ratePerDevice: 100, count: 20, topicTemplate: 'x/{device}', prefix: 'q0' });
  assert.equal(r0.acked, 20);
  assert.ok(r0.elapsedMs >= 50, `20 messages at 2 x 100/s take ~100 ms, took ${r0.elapsedMs}`);

  const out = collect();
  const err = collect();
  const code = await runSimulateMqtt(['--url', url, '--devices', '2', '--rate', '0', '--qos', '1', '--count', '50'], {
    stdout: out.stream,
    stderr: err.stream,
  });
  assert.equal(code, 0, err.text());
  assert.match(out.text(), /sent 50, acked 50, errors 0/);
});

test('runSimulateMqtt: --help, bad arguments, unreachable broker', async () => {
  const out = collect();
  const err = collect();
  assert.equal(await runSimulateMqtt(['--help'], { stdout: out.stream, stderr: err.stream }), 0);
  assert.match(out.text(), /--devices N/);
  assert.equal(await runSimulateMqtt(['--qos', '2'], { stdout: out.stream, stderr: err.stream }), 2);
  assert.match(err.text(), /GH_ARG_INVALID: --qos must be 0 or 1/);
  assert.equal(await runSimulateMqtt(['--bogus'], { stdout: out.stream, stderr: err.stream }), 2);
  assert.equal(await runSimulateMqtt(['--duration', 'soon'], { stdout: out.stream, stderr: err.stream }), 2);
  const e2 = collect();
  assert.equal(await runSimulateMqtt(['--url', 'mqtt://127.0.0.1:1', '--devices', '1', '--count', '1'], { stdout: out.stream, stderr: e2.stream }), 1);
  assert.match(e2.text(), /cannot connect/);
});

test('runMqttFleet: a broker that refuses the publishes and closes the connection ends the run with a summary, acked 0', async (t) => {
  // A full `reject` stream: no PUBACK, the connection closed (MQTT 3.1.1 has no negative PUBACK).
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }] },
    {
      ...testDeps(),
      onPublish: () => Promise.reject(new Error('stream full')),
    },
  );
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.addresses()[0]!.port}`;
  const out = collect();
  const err = collect();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    runSimulateMqtt(['--url', url, '--devices', '2', '--rate', '20', '--qos', '1', '--duration', '500ms'], { stdout: out.stream, stderr: err.stream }),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('still running 10 s after a 500 ms run'), 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(code, 1, `${out.text()}${err.text()}`);
  assert.match(out.text(), /sent [1-9]\d*, acked 0,/);
  // and says why: the summary's counts alone left a user guessing
  assert.match(err.text(), /the broker closed [12] device connection\(s\) before the run ended: an MQTT 3\.1\.1 broker does so for a publish it refuses/);
  assert.match(err.text(), /first error: sim-[01]: /);
});
