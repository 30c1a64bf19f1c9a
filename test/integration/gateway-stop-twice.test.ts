// gateway.stop() is idempotent: every call returns the one stop, so a second call (a test's
// cleanup after its own stop, an embedding program stopping from two places) resolves when the
// gateway has stopped. Before, a call made while the stop ran returned at once: its caller went on
// (removed the data directory, exited) with the rules' final checkpoint and the store's close still
// running. Real in-process gateway (aedes, LevelDB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { GatehouseError } from '../../core/errors.js';
import { tempDir, testDeps } from '../helpers/index.js';

test('a second gateway.stop() made while the stop runs resolves once the gateway has stopped, as the first', async (t) => {
  const d = await tempDir(t);
  const file = join(d, 'g.yaml');
  await writeFile(file, `gatewayId: gw-stop-twice\ndataDir: ${JSON.stringify(join(d, 'data'))}\nexporters: []\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-stop-twice'), version: 'test' });
  t.after(() => gw.stop());

  let firstDone = false;
  const first = gw.stop();
  void first.then(() => {
    firstDone = true;
  });
  const second = gw.stop();
  await second;
  assert.ok(firstDone, 'the second stop resolved before the first had finished');
  // Stopped: the store is closed.
  await assert.rejects(gw.streams.append('archive', { topic: 'a', payload: Buffer.from('x'), receivedAt: Date.now() }), (err: unknown) => {
    assert.ok(err instanceof GatehouseError, String(err));
    return true;
  });
  assert.equal(second, first, 'every call returns the one stop');
  assert.equal(gw.stop(), first, 'a call after the stop too');
});
