// gateway/runtime/process-memory.ts: the process-wide memory settings `gatehouse start` applies.
// Each case runs in a fresh node process (the settings are process-wide: V8 flags, mqtt-packet's
// module state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/index.js';

const moduleUrl = pathToFileURL(join(repoRoot, 'dist/gateway/runtime/process-memory.js')).href;

function run(script: string, nodeArgs: string[] = []): string {
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// Writes a PUBACK through mqtt-packet (as aedes does) and prints the settings and how many packet
// id buffers mqtt-packet's number cache holds.
const SCRIPT = `
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { applyProcessMemorySettings } from '${moduleUrl}';
const settings = await applyProcessMemorySettings();
const require = createRequire(import.meta.url);
const packet = require('mqtt-packet');
const out = new PassThrough();
packet.writeToStream({ cmd: 'puback', messageId: 4660 }, out);
await new Promise((r) => setImmediate(r)); // mqtt-packet corks the stream until the next tick
const bytes = out.read();
const numbers = require('mqtt-packet/numbers');
console.log(JSON.stringify({ settings, cached: Object.keys(numbers.cache).length, puback: [...bytes] }));
`;

test('the settings: heap growing factor 1.2, and mqtt-packet writes packet ids without its 65,536-buffer cache', () => {
  const r = JSON.parse(run(SCRIPT)) as { settings: { heapGrowingPercent: unknown; packetNumberCache: unknown }; cached: number; puback: number[] };
  assert.deepEqual(r.settings, { heapGrowingPercent: 20, packetNumberCache: false });
  assert.equal(r.cached, 0, 'mqtt-packet built its number cache');
  // PUBACK, remaining length 2, packet id 0x1234: still written right
  assert.deepEqual(r.puback, [0x40, 0x02, 0x12, 0x34]);
});

test('a --heap-growing-percent given on node command line is kept', () => {
  const r = JSON.parse(run(SCRIPT, ['--heap-growing-percent=50'])) as { settings: { heapGrowingPercent: unknown } };
  assert.equal(r.settings.heapGrowingPercent, 'node flag');
});

test('without the settings mqtt-packet builds its cache on the first packet (what the settings avoid)', () => {
  const out = run(`
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
const require = createRequire(import.meta.url);
require('mqtt-packet').writeToStream({ cmd: 'puback', messageId: 1 }, new PassThrough());
console.log(Object.keys(require('mqtt-packet/numbers').cache).length);
`);
  assert.equal(Number(out), 65536);
});

test('the memory the process may use: a cgroup limit below the RAM, else the RAM (no limit reads as 2^63 in cgroup v1, 0 in v2)', async () => {
  const { processMemory } = (await import(moduleUrl)) as typeof import('../../gateway/runtime/process-memory.js');
  const GiB = 1024 ** 3;
  assert.deepEqual({ ...processMemory(128 * 1048576, 8 * GiB), heapLimitMiB: 0 }, { memoryMiB: 128, memoryFrom: 'cgroup limit', heapLimitMiB: 0 });
  assert.equal(processMemory(2 ** 63, 0.5 * GiB).memoryMiB, 512);
  assert.equal(processMemory(2 ** 63, 0.5 * GiB).memoryFrom, 'RAM');
  assert.equal(processMemory(0, 0.5 * GiB).memoryFrom, 'RAM');
  // a limit above the RAM limits nothing
  assert.equal(processMemory(4 * GiB, 1 * GiB).memoryMiB, 1024);
  // V8's own figure, as node sized it for this process
  assert.ok(processMemory().heapLimitMiB > 0);
});

test('a warning below the smallest memory the gateway was measured to work in, none at or above it', async () => {
  const { smallMemoryWarning, SMALLEST_MEMORY_MIB } = (await import(moduleUrl)) as typeof import('../../gateway/runtime/process-memory.js');
  const w = smallMemoryWarning({ memoryMiB: SMALLEST_MEMORY_MIB - 1, memoryFrom: 'cgroup limit', heapLimitMiB: 280 });
  assert.match(w ?? '', new RegExp(`may use ${SMALLEST_MEMORY_MIB - 1} MiB \\(cgroup limit\\).*MemoryMax=`));
  assert.equal(smallMemoryWarning({ memoryMiB: SMALLEST_MEMORY_MIB, memoryFrom: 'cgroup limit', heapLimitMiB: 280 }), undefined);
  assert.equal(smallMemoryWarning({ memoryMiB: 512, memoryFrom: 'RAM', heapLimitMiB: 280 }), undefined);
});
