// A records response (GET /api/streams/<name>/records: the status page, or any HTTP client)
// whose client goes away while the response waits for its socket to drain ends there. Before, the
// wait was for 'drain' alone, which a closed socket never emits: the request's handler never ended
// (gatehouse_admin_requests_total never counted it) and held the records it had read, up to
// admin.maxResponseBytes, for the life of the process; the same for every response cut at stop
// (closeAllConnections). Real in-process gateway (LevelDB store, its archive stream filled directly),
// a real TCP client that reads the first bytes and closes: the response (20 MB) is larger than the
// loopback socket buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { metricValue, tempDir, testDeps, waitUntil } from '../helpers/index.js';

const RECORDS = 100;
const PAYLOAD = 200_000;

test('a records response whose client closed while it waited for the socket ends (the handler no longer waits for good)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nadmin:\n  maxResponseBytes: ${64 * 1024 * 1024}\n`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-test');
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  // Straight into the gateway's store (through its broker, 20 MB took ~16 s: the client is throttled).
  const payload = Buffer.alloc(PAYLOAD, 'a');
  await Promise.all(Array.from({ length: RECORDS }, () => gw.streams.append('archive', { topic: 'data/big', payload, receivedAt: Date.now() })));

  const port = gw.admin!.address().port;
  const answered = async (): Promise<number> => metricValue(registry, 'gatehouse_admin_requests_total', { status: '2xx' });
  const before = await answered();
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET /api/streams/archive/records?from=1&limit=${RECORDS} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  const [first] = (await once(socket, 'data')) as [Buffer];
  assert.match(first.toString('latin1'), /^HTTP\/1\.1 200/);
  socket.destroy(); // gone, with most of the 20 MB response unsent
  await waitUntil(async () => (await answered()) > before || undefined, 'the records request to end once its client went away');
  // The admin API still answers.
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(res.status, 200);
});
