// OPC UA connection failures as the status shows them (a real node-opcua client, no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { freePort, waitUntil } from '../helpers/index.js';
import { sourceDeps, storeIntake } from '../helpers/industrial.js';

test('a refused endpoint: retrying, with a one-line lastError naming the endpoint and the cause', async (t) => {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const intake = await storeIntake(t);
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://127.0.0.1:${port}/UA/Test`,
      backoff: { initialMs: 100, maxMs: 200 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir }),
  );
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a connect error', 20_000);
  assert.equal(source.status().state, 'retrying');
  const lastError = String((source.status().details as { lastError: string }).lastError);
  assert.match(lastError, new RegExp(`opc\\.tcp://127\\.0\\.0\\.1:${port}/UA/Test`));
  assert.match(lastError, /ECONNREFUSED/);
  // One line: the status page, `gatehouse sources` and the log show it as a line (node-opcua's text has line breaks).
  assert.doesNotMatch(lastError, /\n/);
});
