// Cable pulled and replugged (socat killed and restarted on the same link names), a device that
// is missing at start, and the downlink (command topic, write(), rule action) over real ptys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { createSerialBridge } from '../../firmware-bridge/bridge.js';
import { serialAction } from '../../gateway/pipeline/actions/index.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import type { Decoded } from '../../firmware-bridge/codecs/index.js';
import { isGatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

const fastReconnect = { initialMs: 50, maxMs: 200, watchMs: 100 };

test('serial: cable pulled and replugged: the link goes retrying, then resumes on the same path with no restart', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const msgs: Message[] = [];
  const link = createSerialLink(
    { ...simulatorLinkOptions('uart0', pair.dev1, 'cobs', 'json'), reconnect: fastReconnect },
    { ...deps, onMessage: (m) => void msgs.push(m) },
  );
  await link.start();
  t.after(() => link.stop());
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 100, framing: 'cobs', codec: 'json' });
  await dev.start();
  t.after(() => dev.stop());
  await waitUntil(() => msgs.length >= 5, 'first messages');

  await pair.stop();
  await waitUntil(() => link.status().state === 'retrying', 'link notices the pulled cable', 3000);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_link_up', { link: 'uart0' }), 0);
  const before = msgs.length;

  await pair.restart();
  await waitUntil(() => link.status().state === 'open', 'link reopens the replugged port', 5000);
  await waitUntil(() => msgs.length >= before + 10, 'messages flow again after replug', 5000);
  assert.ok(link.status().reconnects >= 1);
  assert.ok((await metricValue(deps.registry, 'gatehouse_serial_reconnects_total', { link: 'uart0' })) >= 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_link_up', { link: 'uart0' }), 1);
  assert.match(link.status().lastError ?? '', /.+/);
});

test('serial: a device missing at start is retried (ENOENT) and picked up when it appears', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  await pair.stop();
  const deps = testDeps();
  const msgs: Message[] = [];
  const link = createSerialLink(
    { ...simulatorLinkOptions('late', pair.dev1, 'line', 'kv'), reconnect: fastReconnect },
    { ...deps, onMessage: (m) => void msgs.push(m) },
  );
  await link.start();
  t.after(() => link.stop());
  assert.equal(link.status().state, 'retrying');
  assert.match(link.status().lastError ?? '', /GH_SERIAL_OPEN/);
  await assert.rejects(link.write({ a: 1 }), (e) => isGatehouseError(e, 'GH_SERIAL_NOT_OPEN'));
  await pair.restart();
  await waitUntil(() => link.status().state === 'open', 'link opens once the device exists', 5000);
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 200, framing: 'line', codec: 'kv', count: 5 });
  await dev.start();
  t.after(() => dev.stop());
  await waitUntil(() => msgs.length >= 5, 'messages from the late device');
});

test('serial downlink: command topic, write() and the rule action reach the device encoded with the link codec', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  // Test double for the broker subscription (the gateway wires deps.subscribe to its broker);
  // it records the filter and lets the test deliver a publish.
  const bus = new EventEmitter();
  const filters: string[] = [];
  const subscribe = (filter: string, handler: (topic: string, payload: Buffer) => void) => {
    filters.push(filter);
    bus.on('publish', handler);
    return () => bus.off('publish', handler);
  };
  const bridge = createSerialBridge([{ ...simulatorLinkOptions('uart0', pair.dev1, 'crc', 'kv', true), commandTopic: 'devices/{deviceId}/cmd' }], {
    ...deps,
    onMessage: () => undefined,
    subscribe,
  });
  await bridge.start();
  t.after(() => bridge.stop());
  assert.deepEqual(filters, ['devices/+/cmd']);
  const commands: Array<Decoded | Buffer> = [];
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 1, framing: 'crc', codec: 'kv', ack: true, onCommand: (c) => commands.push(c) });
  await dev.start();
  t.after(() => dev.stop());

  bus.emit('publish', 'devices/sim-1/cmd', Buffer.from('{"led":"on","level":3}'));
  await waitUntil(() => commands.length >= 1, 'command from the command topic');
  assert.deepEqual(commands[0], { led: 'on', level: 3 });

  await bridge.get('uart0')!.write({ reboot: 1 });
  await waitUntil(() => commands.length >= 2, 'command from write()');
  assert.deepEqual(commands[1], { reboot: 1 });

  const factory = serialAction(bridge);
  const action = factory(
    { link: 'uart0' },
    {
      rule: 'r',
      compileTemplate: () => {
        throw new Error('unused');
      },
    },
  );
  assert.equal(action.durable, false);
  action.validate?.();
  await action.execute(Buffer.from('{"fan":2}'), { message: {} as Message, ruleName: 'r', payloadJson: undefined });
  await waitUntil(() => commands.length >= 3, 'command from the rule action');
  assert.deepEqual(commands[2], { fan: 2 });
  const bad = factory(
    { link: 'nope' },
    {
      rule: 'r',
      compileTemplate: () => {
        throw new Error('unused');
      },
    },
  );
  assert.throws(
    () => bad.validate?.(),
    (e) => isGatehouseError(e, 'GH_SERIAL_LINK_UNKNOWN'),
  );
  assert.ok((await metricValue(deps.registry, 'gatehouse_serial_frames_out_total', { link: 'uart0' })) >= 3);
  assert.equal(bridge.status().length, 1);
});
