// A file exporter whose folder cannot be created when the gateway starts (a path under a regular
// file here; in the field a USB stick or NFS share not mounted yet, or a folder the service user
// may not write). The gateway must still start (broker, rules, local streams: records are kept),
// the exporter must hold them with an error naming the folder and what to check, and export must
// resume by itself once the folder can be created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { Publisher, exporterStatus, STREAM, EXPORTER } from '../helpers/upstream-e2e.js';

async function listFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

test('file exporter whose folder cannot be created: the gateway starts, holds the records with a clear error, exports once the folder can be made', {
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-filedir-');
  const blocker = join(dir, 'mnt');
  await writeFile(blocker, 'not a folder');
  const exportDir = join(blocker, 'export');
  const config = {
    dataDir: join(dir, 'data'),
    streams: { [STREAM]: {} },
    rules: { version: 1, rules: [{ name: 'to_up', sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: STREAM } }] }] },
    exporters: [
      {
        name: EXPORTER,
        stream: STREAM,
        destination: { type: 'file', dir: exportDir },
        batch: { lingerMs: 10 },
        backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 200 },
      },
    ],
  };
  const file = await writeConfig(dir, JSON.stringify(config));
  const gw = await startGatewayProcess(file);
  t.after(() => gw.kill9());

  const pub = new Publisher(2, 10);
  await pub.publish(gw.mqttUrl, 5);
  const held = await waitUntil(
    async () => {
      const st = await exporterStatus(gw);
      return st.lastError !== undefined ? st : undefined;
    },
    'the exporter reports why it cannot export',
    15_000,
  );
  assert.equal(held.lastExportedSeq, 0, 'nothing passed');
  assert.equal(held.deadLetters, 0);
  assert.equal(held.backlog.records, 5);
  assert.match(held.lastError!.message, new RegExp(exportDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'names the folder');
  assert.match(held.lastError!.message, /Fix: .*writable/, 'says what to check');

  // The share gets mounted (here: the file in the way goes): export resumes without a restart.
  await rm(blocker);
  await waitUntil(async () => (await exporterStatus(gw)).lastExportedSeq === 5, 'the 5 records exported', 20_000);
  const lines = (await Promise.all((await listFiles(exportDir)).map(async (f) => (await import('node:fs/promises')).readFile(f, 'utf8'))))
    .join('')
    .split('\n')
    .filter(Boolean);
  assert.equal(lines.length, 5);
});
