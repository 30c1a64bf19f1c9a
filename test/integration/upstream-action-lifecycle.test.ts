// The stream and exporter of an upstream rule action (http here) are created when a rule set
// using it is installed, not for one that is refused. Real in-process gateway, real
// Firehose-protocol receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';

const EXPORTER = '{ batch: { lingerMs: 20 }, backoff: { initialMs: 20, maxMs: 100, outageMaxMs: 100 } }';

function ruleSet(version: number, url: string): string {
  return `version: ${version}\nrules:\n  - name: up\n    sql: "SELECT * FROM 'fleet/+/engine'"\n    actions:\n      - http: { url: "${url}", exporter: ${EXPORTER} }\n`;
}

async function gatewayWithRules(t: import('node:test').TestContext, rules: string): Promise<Gateway> {
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(rulesFile, rules);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nrulesFile: ${JSON.stringify(rulesFile)}\n`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), { ...testDeps(), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

test('a refused rule set creates no stream and no exporter for the upstream action it named', async (t) => {
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const gw = await gatewayWithRules(t, ruleSet(1, receiver.url));
  const before = gw.exporters.status().map((e) => e.name);
  const streamsBefore = gw.streams.streamNames();
  // v2 names a new destination, and a stream no config defines: refused at validation, after the
  // http action's validation ran.
  const refused = `${ruleSet(2, `${receiver.url}refused`)}  - name: bad\n    sql: "SELECT * FROM 'x'"\n    actions: [{ stream: { name: nowhere } }]\n`;
  const status = await gw.rules.applyFromBytes(Buffer.from(refused), 'application/yaml', 'admin');
  assert.equal(status.state, 'rejected');
  await waitUntil(
    () => gw.exporters.status().length === before.length,
    `only the exporters of the running set (${before.join(', ')}) left: ${gw.exporters
      .status()
      .map((e) => e.name)
      .join(', ')}`,
    5000,
  );
  assert.deepEqual(
    gw.exporters.status().map((e) => e.name),
    before,
  );
  assert.deepEqual(gw.streams.streamNames(), streamsBefore, 'no stream (nor dead-letter stream) defined for the refused set');
});
