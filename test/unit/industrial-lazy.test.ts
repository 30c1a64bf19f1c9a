// The idle gateway without industrial sources must not pay for them: loading the config schema,
// the source registry and the runtime does not load modbus-serial or node-opcua (CommonJS
// packages: once imported they sit in the CommonJS module cache). Creating a source does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const cache = createRequire(import.meta.url).cache;
const loaded = (name: string): boolean => Object.keys(cache).some((k) => k.includes(`/node_modules/${name}/`));

test('config, registry and runtime modules load neither modbus-serial nor node-opcua; create() loads them', async () => {
  await import('../../gateway/config/index.js');
  const { sourcesSchema } = await import('../../gateway/pipeline/sources/registry.js');
  await import('../../gateway/runtime/index.js');
  sourcesSchema();
  assert.equal(loaded('modbus-serial'), false, 'modbus-serial loaded without a modbus source');
  assert.equal(loaded('node-opcua-client'), false, 'node-opcua-client loaded without an opcua source');
  const { modbusKind, modbusOptionsSchema } = await import('../../gateway/pipeline/sources/modbus/index.js');
  const pino = (await import('pino')).default;
  const { Registry } = await import('prom-client');
  await modbusKind.create(
    modbusOptionsSchema.parse({
      type: 'modbus',
      name: 'm',
      tcp: { host: '127.0.0.1' },
      devices: [{ name: 'd', groups: [{ tags: [{ name: 'a', area: 'holding', address: 0 }] }] }],
    }),
    { logger: pino({ level: 'silent' }), registry: new Registry(), dataDir: '/tmp' },
  );
  assert.equal(loaded('modbus-serial'), true, 'the check can see a loaded package');
  assert.equal(loaded('node-opcua-client'), false);
});
