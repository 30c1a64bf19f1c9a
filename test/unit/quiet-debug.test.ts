// gateway/broker/quiet-debug.ts: mqtt-packet gets no-op debug instances unless DEBUG names it. Each
// case runs in a fresh node process (the module acts on the module cache at load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/index.js';

function run(script: string, env: Record<string, string | undefined>): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, DEBUG: undefined, ...env },
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr };
}

const dist = (p: string): string => pathToFileURL(join(repoRoot, 'dist', p)).href;

// Loads the runtime (as `gatehouse start` does), then parses one PUBLISH with mqtt-packet.
const SCRIPT = `
  await import(${JSON.stringify(dist('gateway/runtime/index.js'))});
  const { quietDebugNamespaces } = await import(${JSON.stringify(dist('gateway/broker/quiet-debug.js'))});
  const { createRequire } = await import('node:module');
  const mqttPacket = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))})('mqtt-packet');
  const parser = mqttPacket.parser();
  let packets = 0;
  parser.on('packet', () => packets++);
  parser.parse(mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('{}'), qos: 1, messageId: 1 }));
  console.log(JSON.stringify({ namespaces: quietDebugNamespaces(), packets }));
`;

test('mqtt-packet takes its debug instances from the quiet wrapper when the runtime loads', () => {
  const { stdout, stderr } = run(SCRIPT, {});
  const out = JSON.parse(stdout.trim()) as { namespaces: string[]; packets: number };
  assert.ok(out.namespaces.includes('mqtt-packet:parser'), stdout);
  assert.ok(out.namespaces.includes('mqtt-packet:writeToStream'), stdout);
  assert.equal(out.packets, 1);
  assert.doesNotMatch(stderr, /mqtt-packet/);
});

test('DEBUG=mqtt-packet:parser still prints the parser debug lines', () => {
  const { stdout, stderr } = run(SCRIPT, { DEBUG: 'mqtt-packet:parser' });
  assert.equal((JSON.parse(stdout.trim()) as { packets: number }).packets, 1);
  assert.match(stderr, /mqtt-packet:parser/);
});
