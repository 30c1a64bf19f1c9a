// Round-13 audit: a link's commandTopic that also matches its own telemetry topic. Every decoded
// frame is published on the local broker, so the link wrote each reading back to the device as a
// command (and with a device or line that echoes, round and round). Refused by config validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { checkConfigText } from '../helpers/check-config.js';

const base = { name: 'u', path: '/x', topic: 'devices/${deviceId}/telemetry' };

test("options: a commandTopic that matches the link's own telemetry topic is refused at commandTopic", () => {
  for (const commandTopic of ['devices/${deviceId}/+', 'devices/#', '#', 'devices/${deviceId}/telemetry', '+/+/telemetry', 'devices/ws1/telemetry']) {
    const r = SerialLinkOptionsSchema.safeParse({ ...base, commandTopic });
    assert.equal(r.success, false, commandTopic);
    const issue = r.error?.issues[0];
    assert.equal(issue?.path.join('.'), 'commandTopic', commandTopic);
    assert.match(issue?.message ?? '', /telemetry topic/, commandTopic);
  }
  for (const commandTopic of ['devices/${deviceId}/cmd', 'devices/${deviceId}/telemetry/set', 'cmd/#', 'devices/${deviceId}']) {
    assert.equal(SerialLinkOptionsSchema.safeParse({ ...base, commandTopic }).success, true, commandTopic);
  }
  // The default topic serial/${link}/telemetry.
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', commandTopic: 'serial/${link}/#' }).success, false);
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', commandTopic: 'serial/${link}/cmd' }).success, true);
});

test('check-config names serial.0.commandTopic when it would feed the link its own readings', async (t) => {
  const r = await checkConfigText(
    t,
    'serial:\n  - name: u\n    path: /dev/ttyUSB0\n    topic: devices/${deviceId}/telemetry\n    commandTopic: devices/${deviceId}/+\n',
  );
  assert.notEqual(r.code, 0);
  assert.match(r.err, /serial\.0\.commandTopic/);
});
