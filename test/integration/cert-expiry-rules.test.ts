// The certificates of upstream rule actions (an `mqtt` action republishing to a remote broker with
// its own TLS files), watched for expiry as the exporters' are, from a user's seat: a gateway
// process whose rule set (a rules file) has one action with an expired client certificate and one
// with a certificate that expires in 3 days, bridging to a real mosquitto that requires client
// certificates. Before, none of them was in the gauge, /healthz, `gatehouse status` or
// check-config. The series follow the running rule set: a rule removed by a SIGHUP (the rules file
// edited) or by an update through the admin API (PUT /api/rules, as a remote update) leaves no
// series behind, a rule added gets its own; a renewed file and a SIGHUP clear the warning.
// Certificates are made with chosen dates by openssl (test/helpers/cert-dates.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { startMosquitto } from '../helpers/peers.js';
import { checkConfigFile } from '../helpers/check-config.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import { testCa } from '../helpers/cert-dates.js';

const skip = needBinary('openssl', 'openssl') ?? needBinary('mosquitto', 'mosquitto');
const DAY = 86_400_000;
/** A certificate's date as the gateway says it (whole seconds). */
const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString();

interface Health {
  ok: boolean;
  warning?: string;
  certificates?: Array<{ use: string; kind: string; connection: string; file: string; where: string; state: string; message: string }>;
}

async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

test("upstream rule actions' certificates: watched as the exporters', their series follow the running rule set (SIGHUP, admin API)", {
  skip,
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  const soon = ca.issue('soon', 'gw-soon', new Date(now - 30 * DAY), new Date(now + 3 * DAY));
  const expired = ca.issue('expired', 'gw-expired', new Date(now - 30 * DAY), new Date(now - DAY));
  const renewed = ca.issue('renewed', 'gw-soon', new Date(now - DAY), new Date(now + 365 * DAY));
  const live = { cert: join(dir, 'live-soon.pem'), key: join(dir, 'live-soon.key') };
  await copyFile(soon.cert, live.cert);
  await copyFile(soon.key, live.key);

  const broker = await startMosquitto(t, ['require_certificate true', `cafile ${ca.cert}`, `certfile ${server.cert}`, `keyfile ${server.key}`]);
  const action = (id: string, cert: string, key: string): string =>
    `{ mqtt: { url: "mqtts://127.0.0.1:${broker.port}", clientId: ${id}, caFile: ${JSON.stringify(ca.cert)}, certFile: ${JSON.stringify(cert)}, keyFile: ${JSON.stringify(key)}, reconnectMinMs: 50, reconnectMaxMs: 300 } }`;
  const rule = (name: string, act: string): string => `  - { name: ${name}, sql: "SELECT * FROM '${name}/#'", actions: [${act}] }\n`;
  const rulesFile = join(dir, 'rules.yaml');
  await writeFile(
    rulesFile,
    `version: 1\nrules:\n${rule('alerts', action('gw-alerts', expired.cert, expired.key))}${rule('fwd', action('gw-fwd', live.cert, live.key))}`,
  );
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: ${JSON.stringify(rulesFile)}\nexporters: []\n`);

  // check-config: each rule action's certificate with its date, a warning for the two.
  const checked = await checkConfigFile(config);
  assert.equal(checked.code, 0, checked.err);
  assert.match(
    checked.out,
    new RegExp(`the client certificate of the mqtt action at actions\\.0 of rule 'alerts' \\(${expired.cert}\\) expired on ${iso(now - DAY)}`),
  );
  assert.match(checked.out, /the CA bundle of the mqtt action at actions\.0 of rule 'fwd' .* is valid until/);
  assert.match(
    checked.err,
    new RegExp(`warning: the client certificate of the mqtt action at actions\\.0 of rule 'fwd' \\(${live.cert}\\) expires on .*Fix: renew it`),
  );

  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const gauge = async (connection: string, use = 'client'): Promise<number | undefined> => {
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const m = new RegExp(`^gatehouse_tls_cert_expiry_timestamp_seconds\\{use="${use}",kind="rule",connection="${connection}"\\} (\\d+)$`, 'm').exec(metrics);
    return m ? Number(m[1]) : undefined;
  };
  const listed = async (): Promise<string[][]> =>
    ((await getJson<Health>(`${gw.adminUrl}/healthz`)).certificates ?? []).map((c) => [c.connection, c.use, c.state]);

  // The gauge, per rule and action; the log's warning and error.
  assert.equal(await gauge('alerts/actions.0.mqtt'), Math.floor((now - DAY) / 1000));
  assert.equal(await gauge('fwd/actions.0.mqtt'), Math.floor((now + 3 * DAY) / 1000));
  assert.ok(((await gauge('fwd/actions.0.mqtt', 'ca')) ?? 0) > now / 1000 + 3000 * 86_400);
  const logged = (msg: RegExp, connection: string) => gw.logs.find((l) => msg.test(String(l.msg)) && l.connection === connection);
  assert.equal(logged(/^TLS certificate has expired/, 'alerts/actions.0.mqtt')?.file, expired.cert);
  assert.equal(logged(/^TLS certificate expires soon/, 'fwd/actions.0.mqtt')?.daysLeft, 2);

  // /healthz: healthy (never enforced), both named with their key path in the rule set.
  const health = await getJson<Health>(`${gw.adminUrl}/healthz`);
  assert.equal(health.ok, true);
  assert.deepEqual(await listed(), [
    ['alerts/actions.0.mqtt', 'client', 'expired'],
    ['fwd/actions.0.mqtt', 'client', 'expiring'],
  ]);
  assert.deepEqual(
    health.certificates?.map((c) => [c.kind, c.where]),
    [
      ['rule', 'rules.0.actions.0.mqtt.certFile'],
      ['rule', 'rules.1.actions.0.mqtt.certFile'],
    ],
  );
  const status = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /warning: the client certificate of the mqtt action at actions\.0 of rule 'alerts' .* expired on .*rule 'fwd'/);

  // The expired one is refused in the handshake: its exporter's error names the file and date.
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'device' });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('alerts/a', '{"v":1}', { qos: 1 });
  type Exporter = { name: string; lastError?: { message: string } };
  await waitUntil(
    async () =>
      (await getJson<{ streams: Array<{ exporters: Exporter[] }> }>(`${gw.adminUrl}/api/streams`)).streams
        .flatMap((s) => s.exporters)
        .find((e) =>
          new RegExp(`GH_UPSTREAM_CERT_EXPIRED: .*the client certificate ${expired.cert} expired on ${iso(now - DAY)}`).test(e.lastError?.message ?? ''),
        ),
    "the expired action's exporter error",
    20_000,
    100,
  );

  // SIGHUP with the rules file edited: 'alerts' gone (its series with it), 'night' added.
  await writeFile(
    rulesFile,
    `version: 2\nrules:\n${rule('fwd', action('gw-fwd', live.cert, live.key))}${rule('night', action('gw-night', live.cert, live.key))}`,
  );
  gw.proc.kill('SIGHUP');
  // Read before the gone ones are removed (one step as seen from outside): wait for both.
  await waitUntil(
    async () => (await gauge('night/actions.0.mqtt')) !== undefined && (await gauge('alerts/actions.0.mqtt')) === undefined,
    "the new rule's series, none left for the rule gone",
    10_000,
    50,
  );
  assert.equal(await gauge('alerts/actions.0.mqtt', 'ca'), undefined);
  assert.deepEqual(await listed(), [
    ['fwd/actions.0.mqtt', 'client', 'expiring'],
    ['night/actions.0.mqtt', 'client', 'expiring'],
  ]);

  // An update through the admin API (installed as a remote one is): 'fwd' gone with its series.
  const put = await fetch(`${gw.adminUrl}/api/rules`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: `version: 3\nrules:\n${rule('night', action('gw-night', live.cert, live.key))}`,
  });
  assert.equal(put.status, 200, await put.text());
  await waitUntil(async () => (await gauge('fwd/actions.0.mqtt')) === undefined, "the removed rule's series gone", 10_000, 50);
  assert.deepEqual(await listed(), [['night/actions.0.mqtt', 'client', 'expiring']]);

  // Renewed in place, then SIGHUP: the rule action's warning is gone, its gauge has the new date.
  await copyFile(renewed.cert, live.cert);
  await copyFile(renewed.key, live.key);
  gw.proc.kill('SIGHUP');
  await waitUntil(() => logged(/^TLS certificate renewed/, 'night/actions.0.mqtt'), 'the renewed line', 10_000, 50);
  const after = await getJson<Health>(`${gw.adminUrl}/healthz`);
  assert.equal(after.certificates, undefined, JSON.stringify(after));
  assert.equal(after.warning, undefined);
  assert.equal(await gauge('night/actions.0.mqtt'), Math.floor((now + 365 * DAY) / 1000));
});
