// Round-13 audit: a downlink command that cannot be written (link down, codec refuses it) is lost;
// it must at least be counted and shown, not only logged under the frame errors' rate limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial downlink: commands to a link that is down, or that the codec refuses, are counted by reason and shown in lastError', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  let publish: ((topic: string, payload: Buffer) => void) | undefined;
  const link = createSerialLink(
    {
      ...simulatorLinkOptions('down', pair.dev1, 'crc', 'struct'),
      commandTopic: 'serial/${link}/cmd',
      reconnect: { initialMs: 5000, maxMs: 5000, watchMs: 50 },
    },
    {
      ...deps,
      onMessage: () => undefined,
      subscribe: (_filter, handler) => {
        publish = handler;
        return () => undefined;
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  assert.equal(link.status().state, 'open');
  const failed = (reason: string) => metricValue(deps.registry, 'gatehouse_serial_commands_failed_total', { link: 'down', reason });
  // The struct codec can't encode a string field.
  publish?.('serial/down/cmd', Buffer.from('{"seq":"x","temperature":1,"humidity":2}'));
  await waitUntil(async () => (await failed('codec')) === 1, 'codec failure counted');
  assert.match(link.status().lastError ?? '', /command.*GH_CODEC_INVALID/);
  // Cable pulled: commands meanwhile fail with GH_SERIAL_NOT_OPEN.
  await pair.stop();
  await waitUntil(() => link.status().state === 'retrying', 'link retrying');
  publish?.('serial/down/cmd', Buffer.from('{"seq":1,"temperature":1,"humidity":2}'));
  publish?.('serial/down/cmd', Buffer.from('reboot'));
  await waitUntil(async () => (await failed('not-open')) === 2, 'commands to a down link counted');
  assert.match(link.status().lastError ?? '', /command.*GH_SERIAL_NOT_OPEN/);
});
