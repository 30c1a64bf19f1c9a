// The admin API's refusals (a Host or Origin refused, a connection over admin.maxConnections
// closed, plain HTTP on its HTTPS port) are logged one line a minute per kind with the count since
// (`suppressed`), on the injected monotonic clock (core/rate-log.ts, as the broker's bounded
// warnings). Before round 33: one line per 10 s on performance.now() (360 an hour for a page
// retrying in a loop), without the count, and a fake clock could not drive it.
// Real admin server (createAdminServer) and real node http/net clients; the clock is a plain
// counter the test moves, so no test waits a minute.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { createAdminServer, type AdminOptions } from '../../gateway/admin/server.js';
import { emptyAdminSource } from '../helpers/admin-source.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, needBinary, tempDir, testDeps, waitForEvent, waitUntil } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const MINUTE = 60_000;

async function rig(t: TestContext, extra: Partial<AdminOptions> = {}, level = 'warn') {
  const clock = { t: 1_000_000 };
  const { logger, lines } = capturedLogger(level);
  const deps = { ...testDeps(), logger, monotonic: () => clock.t };
  const admin = createAdminServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024 * 1024, ...extra }, { ...deps, source: emptyAdminSource });
  await admin.start();
  t.after(() => admin.stop());
  return { clock, lines, registry: deps.registry, port: admin.address().port };
}

/** GET /healthz with these headers: the status answered. */
function get(port: number, headers: Record<string, string>, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/rules/rollback', method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('refused Host and Origin: one warning a minute per kind, the next one with the refusals it stands for', async (t) => {
  const { clock, lines, port } = await rig(t);
  const refusals = (): typeof lines => lines.filter((l) => l.msg === 'admin API request refused');
  // A rebinding page retrying every 11 s for a minute (every one was logged past the old 10 s bound).
  for (let i = 0; i < 6; i++) {
    assert.equal(await get(port, { host: 'evil.example' }), 421);
    clock.t += 11_000;
  }
  assert.equal(refusals().length, 1, JSON.stringify(refusals()));
  // Another kind in the same minute: its own line.
  assert.equal(await get(port, { host: '127.0.0.1', origin: 'http://evil.example' }, 'POST'), 403);
  assert.equal(refusals().length, 2);
  assert.equal((refusals()[1] as { reason?: string }).reason, 'origin');
  // A minute after the first line: the next refusal is logged with the five it stood for.
  clock.t = 1_000_000 + MINUTE;
  assert.equal(await get(port, { host: 'evil.example' }), 421);
  assert.equal(refusals().length, 3, JSON.stringify(refusals()));
  assert.equal(refusals()[2]?.suppressed, 5);
  assert.equal((refusals()[2] as { reason?: string }).reason, 'host');
});

test('connections over admin.maxConnections: one warning a minute, then one with the count', async (t) => {
  const { clock, lines, registry, port } = await rig(t, { maxConnections: 1 });
  const drops = (): typeof lines => lines.filter((l) => /admin\.maxConnections connections open/.test(l.msg));
  const held: Socket = netConnect({ host: '127.0.0.1', port });
  t.after(() => held.destroy());
  await waitForEvent(held, 'connect');
  const dropOne = async (expected: number): Promise<void> => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.on('error', () => undefined); // closed at accept: a reset is possible
    await waitForEvent(s, 'close');
    await waitUntil(async () => (await metricValue(registry, 'gatehouse_admin_connections_dropped_total')) >= expected, `${expected} dropped`);
  };
  // held is counted once the server has it: wait for the first drop to prove the bound is reached
  for (let i = 1; i <= 4; i++) {
    await dropOne(i);
    clock.t += 14_000;
  }
  assert.equal(drops().length, 1, JSON.stringify(drops()));
  clock.t = 1_000_000 + MINUTE;
  await dropOne(5);
  assert.equal(drops().length, 2, JSON.stringify(drops()));
  assert.equal(drops()[1]?.suppressed, 3);
});

test('plain HTTP on the HTTPS port: one debug line a minute, then one with the count', { skip: needBinary('openssl', 'openssl') }, async (t) => {
  const tls = opensslSelfSigned(await tempDir(t));
  const { clock, lines, port } = await rig(t, { tls }, 'debug');
  const plain = (): typeof lines => lines.filter((l) => /plain HTTP \(not TLS\)/.test(l.msg));
  for (let i = 0; i < 3; i++) {
    assert.equal(await get(port, { host: '127.0.0.1' }), 400);
    clock.t += 25_000; // 0, 25 s, 50 s: one line (there were three past the old 10 s bound)
  }
  assert.equal(plain().length, 1, JSON.stringify(plain()));
  clock.t = 1_000_000 + MINUTE;
  assert.equal(await get(port, { host: '127.0.0.1' }), 400);
  assert.equal(plain().length, 2);
  assert.equal(plain()[1]?.suppressed, 2);
});
