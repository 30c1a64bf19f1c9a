// Log lines of configured sources name each key once. createConfiguredSources binds `source` to
// each source's logger; a source that also logged its own `source` field wrote
// {"source":"plc",...,"source":"plc"}, which strict JSON log shippers reject. Real parts: the
// Modbus and OPC UA clients failing to connect to a free port (nothing listening), a file source
// reading back saved offsets it cannot parse.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createConfiguredSources, type SourceEntry } from '../../gateway/pipeline/sources/index.js';
import { sourcesSchema } from '../../gateway/pipeline/sources/registry.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';

/** Top-level keys of one JSON object text, in order, duplicates kept (JSON.parse keeps only the last). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      if (depth === 1 && line[j + 1] === ':') keys.push(JSON.parse(line.slice(i, j + 1)) as string);
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

test('topLevelKeys sees a duplicate key that JSON.parse hides', () => {
  assert.deepEqual(topLevelKeys('{"a":1,"b":{"a":"x\\"}"},"a":[{"c":2}]}'), ['a', 'b', 'a']);
});

/** Configured sources with a logger whose lines (raw JSON text) are kept. */
async function configured(t: TestContext, entries: unknown[]): Promise<{ lines: string[]; start: (intake: Intake) => Promise<void> }> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(l);
      cb();
    },
  });
  const dataDir = await tempDir(t);
  const parsed = sourcesSchema().parse(entries) as SourceEntry[];
  const sources = await createConfiguredSources(parsed, { logger: pino({ level: 'info' }, sink), registry: new Registry(), dataDir });
  return {
    lines,
    async start(intake) {
      for (const s of sources) {
        await s.start(intake);
        t.after(() => s.stop());
      }
    },
  };
}

const intake = (saved?: Buffer): Intake => ({
  submit: () => undefined,
  commitMeta: () => Promise.resolve(),
  readMeta: () => Promise.resolve(saved),
  accepting: () => true,
});

function assertEachKeyOnce(lines: string[], msg: RegExp, source: string): void {
  const hits = lines.filter((l) => msg.test((JSON.parse(l) as { msg: string }).msg));
  assert.ok(hits.length > 0, `a line matching ${msg}`);
  for (const l of hits) {
    const keys = topLevelKeys(l);
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
      `no key twice in ${l}`,
    );
    assert.equal((JSON.parse(l) as { source: string }).source, source);
  }
}

test('modbus: a connect failure is logged with source once', async (t) => {
  const port = await freePort(t);
  const c = await configured(t, [
    {
      type: 'modbus',
      name: 'plc',
      tcp: { host: '127.0.0.1', port },
      timeoutMs: 200,
      backoff: { initialMs: 50, maxMs: 100 },
      devices: [{ name: 'd', groups: [{ tags: [{ name: 'r', area: 'holding', address: 0 }] }] }],
    },
  ]);
  await c.start(intake());
  await waitUntil(() => c.lines.some((l) => l.includes('modbus connect failed')), 'a connect failure logged', 5000);
  assertEachKeyOnce(c.lines, /modbus connect failed/, 'plc');
});

test('opcua: a connect failure is logged with source once', async (t) => {
  const port = await freePort(t);
  const pkiDir = await tempDir(t, 'gatehouse-opcua-pki-');
  const c = await configured(t, [
    {
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://127.0.0.1:${port}/UA/Test`,
      pkiDir,
      connectTimeoutMs: 1000,
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    },
  ]);
  await c.start(intake());
  await waitUntil(() => c.lines.some((l) => l.includes('opcua connect failed')), 'a connect failure logged', 30000);
  assertEachKeyOnce(c.lines, /opcua connect failed/, 'ua');
});

test('file: a warning is logged with source once', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.log'), 'x\n');
  const c = await configured(t, [{ type: 'file', name: 'logs', paths: [join(dir, '*.log')] }]);
  await c.start(intake(Buffer.from('not the saved state')));
  assertEachKeyOnce(c.lines, /saved offsets unreadable/, 'logs');
});
