// The admin API's own certificate past its notAfter, from the CLI's seat: `gatehouse status
// --config FILE` takes the certificate that file names (pinned by its fingerprint) whatever its
// dates, and shows /healthz's warning about it; before, it failed with CERT_HAS_EXPIRED and the
// hint to trust the certificate it already trusted, so the one place meant to say the certificate
// expired could not. Without --config the refusal stays, with a hint that says the certificate
// is out of its dates. An impostor out of its dates (another certificate of the same CA) gets no
// request, hence no token. A real in-process gateway (admin.tls), a certificate dated by openssl
// (test/helpers/cert-dates.ts) from a private CA (GATEHOUSE_ADMIN_CA, as for step-ca).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { freePort, needBinary, tempDir, testDeps, waitForEvent } from '../helpers/index.js';
import { testCa } from '../helpers/cert-dates.js';

const skip = needBinary('openssl', 'openssl');
const DAY = 86_400_000;
const TOKEN = 'a-test-token-of-32-characters-xx';

test("the CLI with --config takes the admin API's own certificate past its notAfter and says it expired; an impostor gets no token", { skip }, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.now();
  const own = ca.issue('admin', 'localhost', new Date(now - 30 * DAY), new Date(now - DAY), 'IP:127.0.0.1');
  const impostor = ca.issue('impostor', 'localhost', new Date(now - 30 * DAY), new Date(now - DAY), 'IP:127.0.0.1');
  const port = await freePort(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nadmin:\n  port: ${port}\n  token: ${TOKEN}\n  tls: { cert: ${JSON.stringify(own.cert)}, key: ${JSON.stringify(own.key)} }\n`,
  );
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0 }), {
    logger: testDeps().logger,
    registry: createMetricsRegistry('test', 'gw-test'),
    version: 'test',
  });
  t.after(() => gw.stop());
  const before = process.env.GATEHOUSE_ADMIN_CA;
  process.env.GATEHOUSE_ADMIN_CA = ca.cert;
  t.after(() => (before === undefined ? delete process.env.GATEHOUSE_ADMIN_CA : (process.env.GATEHOUSE_ADMIN_CA = before)));

  // --config: in, with the admin API's own certificate named in the warning (the gateway stays ok).
  const status = await runCaptured(main, ['status', '--config', file]);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /: ok, up /);
  assert.match(status.out, new RegExp(`warning: the certificate the admin API serves \\(${own.cert}\\) expired on .*by this gateway's clock`));

  // --admin URL (nothing pinned): refused, saying it is the date.
  const byUrl = await runCaptured(main, ['status', '--admin', `https://127.0.0.1:${port}`, '--token', TOKEN]);
  assert.notEqual(byUrl.code, 0);
  assert.match(byUrl.err, /CERT_HAS_EXPIRED.*past its notAfter by this machine's clock.*--config FILE .* whatever its dates/);

  // An impostor out of its dates where --config points: refused before any request is written.
  const seen: Array<string | undefined> = [];
  const server = createHttpsServer({ cert: await readFile(impostor.cert), key: await readFile(impostor.key) }, (req, res) => {
    seen.push(req.headers.authorization);
    res.end('{}');
  });
  let handshakes = 0;
  server.on('connection', () => handshakes++);
  const otherPort = await freePort(t);
  server.listen(otherPort, '127.0.0.1');
  await waitForEvent(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const elsewhere = join(dir, 'other.yaml');
  await writeFile(elsewhere, (await readFile(file, 'utf8')).replace(`port: ${port}`, `port: ${otherPort}`));
  const refused = await runCaptured(main, ['status', '--config', elsewhere]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /refused \(CERT_HAS_EXPIRED\).*not the admin\.tls\.cert of --config/);
  assert.ok(handshakes >= 1, 'the impostor was reached');
  assert.deepEqual(seen, [], 'no request (and no token) reached the impostor');
});
