// The idle gateway does not pay for Protobuf: loading the config, the runtime and the rules engine,
// and compiling rule sets that do not decode Protobuf, does not load protobufjs (a CommonJS package:
// once required it sits in the CommonJS module cache). A rule that decodes 'proto' loads it when
// it compiles (its descriptor is read and checked then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { protoWorkspace, skipProtoc, SPARKPLUG_SUBSET_PROTO } from '../helpers/protoc.js';

const cache = createRequire(import.meta.url).cache;
const loaded = (): boolean => Object.keys(cache).some((k) => k.includes('/node_modules/protobufjs/'));

test('protobufjs is loaded only when a rule decoding Protobuf compiles', { skip: skipProtoc }, async (t) => {
  await import('../../gateway/config/index.js');
  await import('../../gateway/runtime/index.js');
  const { compileRuleSet, compileSql, createFunctionRegistry } = await import('../../rules/index.js');
  const { protoDescriptorFolder } = await import('../../gateway/pipeline/proto-descriptors.js');
  const { buildActionRegistry } = await import('../../gateway/pipeline/actions/index.js');
  const { lazyDestinationKinds } = await import('../../gateway/upstream/loaders.js');
  const ws = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO });
  await ws.describe('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto');
  const protoDescriptors = protoDescriptorFolder(ws.descriptors);
  compileRuleSet(
    {
      version: 1,
      rules: [{ name: 'r', sql: "SELECT decode(b, 'base64') AS d, encode(*, 'base64') AS e FROM '#'", actions: [{ stream: { name: 'archive' } }] }],
    },
    buildActionRegistry({ mode: 'inert', destinations: lazyDestinationKinds() }),
    { protoDescriptors },
  );
  assert.equal(loaded(), false, 'protobufjs loaded without a rule decoding Protobuf');
  compileSql("SELECT decode(*, 'proto', 'sparkplug', 'sparkplug_b.desc', 'sparkplug_b', 'Payload') AS p FROM '#'", {
    functions: createFunctionRegistry({ protoDescriptors }),
  });
  assert.equal(loaded(), true, 'the check can see a loaded package');
});
