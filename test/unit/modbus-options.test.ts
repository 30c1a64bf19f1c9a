// Modbus option defaults that depend on another option: the topic on `publish`, a tag's type on
// its area. A default must pass the source's own validation (it once named ${tag} in group mode
// and uint16 for coils, both refused with values the user never wrote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/options.js';
import { checkConfigText } from '../helpers/check-config.js';

const source = (extra: Record<string, unknown>, tags: unknown[]) => ({
  type: 'modbus',
  name: 'm',
  tcp: { host: '127.0.0.1', port: 15020 },
  devices: [{ name: 'd', groups: [{ tags }] }],
  ...extra,
});

test('topic default: per tag with publish tag, per group (no ${tag}) with publish group; a topic given is kept', () => {
  const tags = [{ name: 'r', area: 'holding', address: 0 }];
  assert.equal(modbusOptionsSchema.parse(source({}, tags)).topic, 'modbus/${source}/${device}/${tag}');
  assert.equal(modbusOptionsSchema.parse(source({ publish: 'group' }, tags)).topic, 'modbus/${source}/${device}/${group}');
  assert.equal(modbusOptionsSchema.parse(source({ publish: 'group', topic: 'plant/${device}' }, tags)).topic, 'plant/${device}');
  // A ${tag} the user writes in group mode is still refused.
  const r = modbusOptionsSchema.safeParse(source({ publish: 'group', topic: 'x/${tag}' }, tags));
  assert.deepEqual(
    r.error?.issues.map((i) => i.path.join('.')),
    ['topic'],
  );
});

test('type default: bool for coils and discrete inputs, uint16 for holding and input registers; a wrong type given is still refused', () => {
  const o = modbusOptionsSchema.parse(
    source({}, [
      { name: 'c', area: 'coil', address: 0 },
      { name: 'di', area: 'discrete', address: 0 },
      { name: 'h', area: 'holding', address: 0 },
      { name: 'i', area: 'input', address: 0 },
    ]),
  );
  assert.deepEqual(
    o.devices[0]!.groups[0]!.tags.map((t) => [t.name, t.type]),
    [
      ['c', 'bool'],
      ['di', 'bool'],
      ['h', 'uint16'],
      ['i', 'uint16'],
    ],
  );
  const r = modbusOptionsSchema.safeParse(source({}, [{ name: 'c', area: 'coil', address: 0, type: 'uint16' }]));
  assert.deepEqual(
    r.error?.issues.map((i) => i.path.join('.')),
    ['devices.0.groups.0.tags.0.type'],
  );
});

test('check-config accepts a group source without topic and a coil without type', async (t) => {
  const r = await checkConfigText(
    t,
    [
      'sources:',
      '  - type: modbus',
      '    name: m',
      '    tcp: { host: 127.0.0.1, port: 15020 }',
      '    publish: group',
      '    devices: [ { name: d, groups: [ { tags: [ { name: r, area: holding, address: 0 }, { name: pump_on, area: coil, address: 0 } ] } ] } ]',
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /OK/);
});

test('length on a tag that is not a string, and scale 0, are refused naming the tag (they were ignored: one register read where ten were meant)', () => {
  const r = modbusOptionsSchema.safeParse(
    source({}, [
      { name: 'arr', area: 'holding', address: 0, type: 'uint16', length: 10 },
      { name: 'c', area: 'coil', address: 0, length: 8 },
      { name: 'f', area: 'holding', address: 20, type: 'float32', scale: 0 },
      { name: 's', area: 'holding', address: 30, type: 'string', length: 4 },
    ]),
  );
  assert.deepEqual(
    r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    [
      "devices.0.groups.0.tags.0.length: device 'd' tag 'arr': length is for string tags only (a uint16 is 1 register(s)); for an array of values give each its own tag",
      "devices.0.groups.0.tags.1.length: device 'd' tag 'c': length is for string tags only (a bool is 1 bit); for an array of values give each its own tag",
      "devices.0.groups.0.tags.2.scale: device 'd' tag 'f': scale 0 reads every value as the offset; for no scaling use 1",
    ],
  );
});
