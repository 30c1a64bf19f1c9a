// Config validation of Modbus poll group names: in per-group publishing the group name is the
// topic, so two groups of one device with one name (two unnamed groups are both 'default') would
// publish two different sets of values on one topic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/options.js';

const base = { type: 'modbus', name: 'm', tcp: { host: '127.0.0.1' } };
const tag = (name: string, address: number) => ({ name, area: 'holding', address });

test('publish: group refuses two groups of one device with the same name, naming the device and the group', () => {
  const r = modbusOptionsSchema.safeParse({
    ...base,
    publish: 'group',
    devices: [
      {
        name: 'plc',
        groups: [
          { intervalMs: 100, tags: [tag('a', 0)] },
          { intervalMs: 5000, tags: [tag('b', 1)] },
        ],
      },
    ],
  });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /device 'plc': poll group name 'default' is used twice/);
});

test('a ${group} topic refuses them too; per-tag topics without ${group} and distinct names pass', () => {
  const groups = [
    { intervalMs: 100, tags: [tag('a', 0)] },
    { intervalMs: 5000, tags: [tag('b', 1)] },
  ];
  assert.equal(modbusOptionsSchema.safeParse({ ...base, topic: 'x/${group}/${tag}', devices: [{ name: 'plc', groups }] }).success, false);
  assert.equal(modbusOptionsSchema.safeParse({ ...base, devices: [{ name: 'plc', groups }] }).success, true);
  const named = [
    { name: 'fast', ...groups[0] },
    { name: 'slow', ...groups[1] },
  ];
  assert.equal(modbusOptionsSchema.safeParse({ ...base, publish: 'group', devices: [{ name: 'plc', groups: named }] }).success, true);
});
