// The certificates the gateway serves (a broker TLS listener's, an http source's, the admin API's), near or past
// their notAfter, in the one list of /healthz's `certificates` and `warning`, /api/overview (the
// status page) and `gatehouse status`, beside the upstream ones (here an MQTT source's client
// certificate and an OPC UA source's certificate login, both as a user reads them with an HTTPS
// client on /healthz). Before, a served certificate near or past its date was only in its gauge
// and the log. Never a 503 (a wrong clock must not fail health); renewed files and a SIGHUP take
// them off the list. A gateway process; certificates dated by openssl (test/helpers/cert-dates.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import { testCa } from '../helpers/cert-dates.js';

const skip = needBinary('openssl', 'openssl');
const DAY = 86_400_000;

interface Entry {
  use: string;
  kind: string;
  connection: string;
  file: string;
  where: string;
  state: string;
  message: string;
}
interface Health {
  ok: boolean;
  status: string;
  warning?: string;
  certificates?: Entry[];
}

test('served certificates near or past their date are in /healthz, /api/overview and gatehouse status with the upstream ones; a renewal and SIGHUP clear them', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.now();
  const san = 'IP:127.0.0.1,DNS:localhost';
  const files = {
    admin: { cert: join(dir, 'live-admin.pem'), key: join(dir, 'live-admin.key') },
    lan: { cert: join(dir, 'live-lan.pem'), key: join(dir, 'live-lan.key') },
    http: { cert: join(dir, 'live-http.pem'), key: join(dir, 'live-http.key') },
  };
  const put = async (from: { cert: string; key: string }, to: { cert: string; key: string }): Promise<void> => {
    await copyFile(from.key, to.key);
    await copyFile(from.cert, to.cert);
  };
  // The admin API's expires in 3 days (the CLI and this test still get in), the listener's expired yesterday.
  await put(ca.issue('admin-soon', 'localhost', new Date(now - 30 * DAY), new Date(now + 3 * DAY), san), files.admin);
  await put(ca.issue('lan-expired', 'localhost', new Date(now - 30 * DAY), new Date(now - DAY), san), files.lan);
  // An http source's expires in 5 days (it was only in its gauge before).
  await put(ca.issue('http-soon', 'localhost', new Date(now - 30 * DAY), new Date(now + 5 * DAY), san), files.http);
  const client = ca.issue('client-soon', 'gw', new Date(now - 30 * DAY), new Date(now + 3 * DAY));
  const login = ca.issue('login-expired', 'gw', new Date(now - 30 * DAY), new Date(now - DAY));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
broker:
  listeners:
    - { name: local, host: 127.0.0.1, port: 0 }
    - { name: lan-tls, host: 127.0.0.1, port: 0, tls: { cert: ${JSON.stringify(files.lan.cert)}, key: ${JSON.stringify(files.lan.key)} } }
admin: { tls: { cert: ${JSON.stringify(files.admin.cert)}, key: ${JSON.stringify(files.admin.key)} } }
sources:
  # Nothing listens at either: their certificates are watched all the same.
  - { type: mqtt, name: cloud, url: "mqtts://127.0.0.1:1", clientId: gw-cmds, caFile: ${JSON.stringify(ca.cert)}, certFile: ${JSON.stringify(client.cert)}, keyFile: ${JSON.stringify(client.key)}, topics: [{ filter: "cmd/#", qos: 1 }] }
  - { type: http, name: devices, port: 0, tls: { cert: ${JSON.stringify(files.http.cert)}, key: ${JSON.stringify(files.http.key)} } }
  - { type: opcua, name: plc, endpoint: "opc.tcp://127.0.0.1:1", auth: { type: certificate, certFile: ${JSON.stringify(login.cert)}, keyFile: ${JSON.stringify(login.key)} }, subscriptions: [{ items: [{ nodeId: "i=2258", name: t }] }] }
`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  assert.match(gw.adminUrl, /^https:/);
  const caPem = await readFile(ca.cert);
  const getJson = <T>(path: string): Promise<T> =>
    new Promise((resolve, reject) => {
      httpsGet(`${gw.adminUrl}${path}`, { ca: caPem }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as T) : reject(new Error(`${res.statusCode}: ${text}`))));
      }).on('error', reject);
    });

  // /healthz: 200 and ok (an expired served certificate is not a reason), every one in one list.
  const health = await getJson<Health>('/healthz');
  assert.equal(health.ok, true);
  assert.equal(health.status, 'ok');
  assert.deepEqual(
    health.certificates?.map((c) => [c.use, c.kind, c.connection, c.state, c.where]),
    [
      ['client', 'source', 'cloud', 'expiring', 'sources.0.certFile'],
      ['client', 'source', 'plc', 'expired', 'sources.2.auth.certFile'],
      ['served', 'listener', 'lan-tls', 'expired', 'broker.listeners.1.tls.cert'],
      ['served', 'source', 'devices', 'expiring', 'sources.devices.tls.cert'],
      ['served', 'admin', 'admin', 'expiring', 'admin.tls.cert'],
    ],
  );
  assert.match(health.warning ?? '', new RegExp(`the certificate listener lan-tls serves \\(${files.lan.cert}\\) expired on .*by this gateway's clock\\)`));
  assert.match(health.warning ?? '', new RegExp(`the certificate the admin API serves \\(${files.admin.cert}\\) expires on .*\\(in 2 day\\(s\\)\\)`));
  assert.match(health.warning ?? '', new RegExp(`the certificate http source 'devices' serves \\(${files.http.cert}\\) expires on .*\\(in 4 day\\(s\\)\\)`));
  // /api/overview (the status page's): the health as above, and every certificate, the served ones too.
  const overview = await getJson<{ health: Health; certificates: Entry[] }>('/api/overview');
  assert.equal(overview.health.certificates?.length, 5);
  assert.deepEqual(
    overview.certificates.filter((c) => c.use === 'served').map((c) => [c.connection, c.file]),
    [
      ['lan-tls', files.lan.cert],
      ['devices', files.http.cert],
      ['admin', files.admin.cert],
    ],
  );

  // `gatehouse status` (the admin API's CA given as a user gives it).
  const before = process.env.GATEHOUSE_ADMIN_CA;
  process.env.GATEHOUSE_ADMIN_CA = ca.cert;
  t.after(() => (before === undefined ? delete process.env.GATEHOUSE_ADMIN_CA : (process.env.GATEHOUSE_ADMIN_CA = before)));
  const status = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(status.code, 0, status.err);
  assert.match(
    status.out,
    /warning: .*the certificate listener lan-tls serves .* expired on .*the certificate http source 'devices' serves .* expires on .*the certificate the admin API serves .* expires on/,
  );
  // check-config says it too, before a start.
  const check = await runCaptured(main, ['check-config', config]);
  assert.match(check.out + check.err, /the certificate http source 'devices' serves \(.*live-http\.pem\) is valid until/);

  // Renewed files, then SIGHUP: both swapped in and off the list; the upstream ones stay.
  await put(ca.issue('admin-renewed', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), san), files.admin);
  await put(ca.issue('lan-renewed', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), san), files.lan);
  await put(ca.issue('http-renewed', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), san), files.http);
  gw.proc.kill('SIGHUP');
  await waitUntil(
    () => ['lan-tls', 'devices', 'admin'].every((l) => gw.logs.some((x) => String(x.msg).startsWith('TLS certificate reloaded') && x.listener === l)),
    'all three reloaded',
    10_000,
    50,
  );
  const after = await getJson<Health>('/healthz');
  assert.deepEqual(
    after.certificates?.map((c) => c.connection),
    ['cloud', 'plc'],
  );
  assert.doesNotMatch(after.warning ?? '', /serves/);
});
