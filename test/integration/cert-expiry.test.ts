// The client certificates a gateway presents upstream, watched for expiry from a user's seat: a
// gateway process bridging to a real mosquitto that requires client certificates (require_certificate),
// one exporter with a certificate that expires in 3 days, one with a certificate that expired
// yesterday. What the operator sees: the warning and the error in the log, the gauge in /metrics,
// the entries of /healthz and `gatehouse status`, the check-config lines, and the expired
// exporter's error naming its certificate and date (mosquitto refuses it in the handshake: before,
// "not connected (... sslv3 alert certificate expired ...): check the broker URL and network").
// Then the files are renewed and a SIGHUP clears the warnings, and the renewed certificate gets in.
// Certificates are made with chosen dates by openssl (test/helpers/cert-dates.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
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
  certificates?: Array<{ use: string; kind: string; connection: string; file: string; state: string; notAfter: string; message: string }>;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  return (await r.json()) as T;
}

test('upstream client certificates: near and past expiry said everywhere an operator looks; a renewal and SIGHUP clear it', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.now();
  const server = ca.issue('server', 'localhost', new Date(now - DAY), new Date(now + 365 * DAY), 'IP:127.0.0.1,DNS:localhost');
  // 33 days of life, 3 left: inside the 14-day window (and the last third).
  const soon = ca.issue('soon', 'gw-soon', new Date(now - 30 * DAY), new Date(now + 3 * DAY));
  const expired = ca.issue('expired', 'gw-expired', new Date(now - 30 * DAY), new Date(now - DAY));
  const renewedSoon = ca.issue('renewed-soon', 'gw-soon', new Date(now - DAY), new Date(now + 365 * DAY));
  const renewedExpired = ca.issue('renewed-expired', 'gw-expired', new Date(now - DAY), new Date(now + 365 * DAY));
  // The files the gateway names (renewed in place below, as an agent does).
  const files = { soon: join(dir, 'live-soon.pem'), soonKey: join(dir, 'live-soon.key'), exp: join(dir, 'live-exp.pem'), expKey: join(dir, 'live-exp.key') };
  await copyFile(soon.cert, files.soon);
  await copyFile(soon.key, files.soonKey);
  await copyFile(expired.cert, files.exp);
  await copyFile(expired.key, files.expKey);

  const broker = await startMosquitto(t, [
    'require_certificate true',
    `cafile ${ca.cert}`,
    `certfile ${server.cert}`,
    `keyfile ${server.key}`,
    'use_identity_as_username true',
  ]);
  const destination = (id: string, cert: string, key: string): string =>
    `{ type: mqtt, url: "mqtts://127.0.0.1:${broker.port}", clientId: ${id}, caFile: ${JSON.stringify(ca.cert)}, certFile: ${JSON.stringify(cert)}, keyFile: ${JSON.stringify(key)}, reconnectMinMs: 50, reconnectMaxMs: 300 }`;
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
streams: { up: { maxBytes: 16777216 } }
rules: { version: 1, rules: [{ name: up, sql: "SELECT * FROM 'fleet/#'", actions: [{ stream: { name: up } }] }] }
sources:
  - { type: mqtt, name: cloud, url: "mqtts://127.0.0.1:${broker.port}", clientId: gw-cmds, caFile: ${JSON.stringify(ca.cert)}, certFile: ${JSON.stringify(files.exp)}, keyFile: ${JSON.stringify(files.expKey)}, reconnectMinMs: 50, reconnectMaxMs: 300, topics: [{ filter: "cmd/#", qos: 1 }] }
control:
  upstream: { url: "mqtts://127.0.0.1:${broker.port}", clientId: gw-control, ca: ${JSON.stringify(ca.cert)}, cert: ${JSON.stringify(files.exp)}, key: ${JSON.stringify(files.expKey)}, reconnectMinMs: 100, reconnectMaxMs: 1000 }
exporters:
  - { name: plant-soon, stream: up, backoff: { initialMs: 50, maxMs: 300 }, destination: ${destination('gw-soon', files.soon, files.soonKey)} }
  - { name: plant-expired, stream: up, backoff: { initialMs: 50, maxMs: 300 }, destination: ${destination('gw-expired', files.exp, files.expKey)} }
`,
  );

  // check-config: each certificate's date, and a warning for the two.
  const checked = await checkConfigFile(config);
  assert.equal(checked.code, 0, checked.err);
  assert.match(
    checked.out,
    new RegExp(`the client certificate of exporter 'plant-soon' \\(${files.soon}\\) is valid until ${iso(now + 3 * DAY)} \\(in 2 day\\(s\\)\\)`),
  );
  assert.match(
    checked.out,
    new RegExp(`the client certificate of exporter 'plant-expired' \\(${files.exp}\\) expired on ${iso(now - DAY)} \\(1 day\\(s\\) ago\\)`),
  );
  assert.match(checked.out, /the CA bundle of exporter 'plant-soon' .* is valid until/);
  assert.match(checked.err, new RegExp(`warning: the client certificate of exporter 'plant-soon' \\(${files.soon}\\) expires on .*Fix: renew it`));
  assert.match(checked.err, /warning: the client certificate of exporter 'plant-expired' .* expired on .*by this gateway's clock\)\. Fix: renew it/);

  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const logged = (msg: RegExp, connection: string) => gw.logs.find((l) => msg.test(String(l.msg)) && l.connection === connection);
  const soonWarn = await waitUntil(() => logged(/^TLS certificate expires soon/, 'plant-soon'), 'the warning of the certificate expiring in 3 days', 10_000);
  assert.equal(soonWarn.level, 40);
  assert.equal(soonWarn.daysLeft, 2); // 3 days less the seconds since it was made
  assert.equal(soonWarn.file, files.soon);
  const expErr = await waitUntil(() => logged(/^TLS certificate has expired/, 'plant-expired'), 'the error of the expired certificate', 10_000);
  assert.equal(expErr.level, 50);
  assert.equal(expErr.notAfter, iso(now - DAY));

  // /metrics: each certificate's notAfter, per connection.
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const gauge = (use: string, connection: string): number | undefined => {
    const m = new RegExp(`^gatehouse_tls_cert_expiry_timestamp_seconds\\{use="${use}",kind="exporter",connection="${connection}"\\} (\\d+)$`, 'm').exec(
      metrics,
    );
    return m ? Number(m[1]) : undefined;
  };
  assert.equal(gauge('client', 'plant-soon'), Math.floor((now + 3 * DAY) / 1000));
  assert.equal(gauge('client', 'plant-expired'), Math.floor((now - DAY) / 1000));
  assert.ok((gauge('ca', 'plant-soon') ?? 0) > now / 1000 + 3000 * 86_400, `the CA's gauge: ${metrics}`);

  // /healthz: healthy (never enforced), with the two named.
  const health = await getJson<Health>(`${gw.adminUrl}/healthz`);
  assert.equal(health.ok, true);
  assert.deepEqual(
    health.certificates?.map((c) => [c.connection, c.use, c.state]),
    [
      ['plant-soon', 'client', 'expiring'],
      ['plant-expired', 'client', 'expired'],
      ['cloud', 'client', 'expired'],
      ['upstream', 'client', 'expired'],
    ],
  );
  // `gatehouse status`: the warning line.
  const status = await runCaptured(main, ['status', '--admin', gw.adminUrl]);
  assert.equal(status.code, 0, status.err);
  assert.match(
    status.out,
    new RegExp(
      `warning: the client certificate of exporter 'plant-soon' \\(${files.soon}\\) expires on .*; the client certificate of exporter 'plant-expired' .* expired on`,
    ),
  );

  // A record to export: the good one is delivered, the expired one's exporter says why it is not.
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'device' });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('fleet/a', '{"v":1}', { qos: 1 });
  type Exporter = { name: string; lastError?: { message: string }; backlog?: { records?: number } };
  const exporters = async (): Promise<Exporter[]> =>
    (await getJson<{ streams: Array<{ name: string; exporters: Exporter[] }> }>(`${gw.adminUrl}/api/streams`)).streams.find((s) => s.name === 'up')!.exporters;
  const errorOf = (e: Exporter | undefined): string => e?.lastError?.message ?? '';
  const failing = await waitUntil(
    async () => (await exporters()).find((e) => e.name === 'plant-expired' && /GH_UPSTREAM_CERT_EXPIRED/.test(errorOf(e))),
    "the expired exporter's error",
    20_000,
    100,
  );
  assert.match(errorOf(failing), new RegExp(`the client certificate ${files.exp} expired on ${iso(now - DAY)}`));
  await waitUntil(
    async () => (await exporters()).find((e) => e.name === 'plant-soon')?.backlog?.records === 0,
    'the 3-day certificate still gets in',
    20_000,
    100,
  );
  // The MQTT source's status and the control channel's log line say it too.
  type Source = { name: string; state?: string; details?: { lastError?: { message: string } | null } };
  const source = async (): Promise<Source | undefined> =>
    (await getJson<{ sources: Source[] }>(`${gw.adminUrl}/api/sources`)).sources.find((x) => x.name === 'cloud');
  const sourceFailing = await waitUntil(
    async () => {
      const x = await source();
      return /GH_UPSTREAM_CERT_EXPIRED/.test(x?.details?.lastError?.message ?? '') ? x : undefined;
    },
    "the MQTT source's error",
    20_000,
    100,
  );
  assert.match(
    sourceFailing.details!.lastError!.message,
    new RegExp(`MQTT source 'cloud': the client certificate ${files.exp} expired on ${iso(now - DAY)}.*Fix: renew the certificate`),
  );
  const control = await waitUntil(
    () => gw.logs.find((l) => l.msg === 'control channel error' && l.code === 'GH_UPSTREAM_CERT_EXPIRED'),
    "the control channel's error",
    20_000,
    100,
  );
  assert.match(String(control.hint), new RegExp(`^control channel: the client certificate ${files.exp} expired on ${iso(now - DAY)}`));

  // Renewal: new files in place, then SIGHUP (systemctl reload gatehouse).
  await copyFile(renewedSoon.cert, files.soon);
  await copyFile(renewedSoon.key, files.soonKey);
  await copyFile(renewedExpired.cert, files.exp);
  await copyFile(renewedExpired.key, files.expKey);
  gw.proc.kill('SIGHUP');
  // Every certificate's line: the check reads them one after the other (the source's and the control
  // channel's, the same renewed file, after the exporters'); /healthz read sooner still lists those.
  await waitUntil(() => ['plant-expired', 'plant-soon', 'cloud', 'upstream'].every((c) => logged(/^TLS certificate renewed/, c)), 'renewed lines', 10_000);
  const after = await getJson<Health>(`${gw.adminUrl}/healthz`);
  assert.equal(after.certificates, undefined, JSON.stringify(after));
  assert.equal(after.warning, undefined);
  const metricsAfter = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metricsAfter, new RegExp(`connection="plant-expired"\\} ${Math.floor((now + 365 * DAY) / 1000)}$`, 'm'));
  // The renewed certificate is presented at the next reconnect: the held record gets out.
  await waitUntil(
    async () => (await exporters()).find((e) => e.name === 'plant-expired')?.backlog?.records === 0,
    'the renewed certificate gets in',
    20_000,
    100,
  );
  await waitUntil(async () => (await source())?.state === 'connected', 'the MQTT source connects with the renewed certificate', 20_000, 100);
});
