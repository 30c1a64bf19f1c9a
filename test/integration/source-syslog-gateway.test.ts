// A syslog source in the real gateway: its addresses in the 'gatehouse started' line and in
// /api/sources (port 0 found there), a message through a rule (sourceip(), the payload's fields)
// into a stream, the TLS certificate renewed with SIGHUP; check-config naming missing TLS files and
// a cert and key of two pairs with GH_SYSLOG_SOURCE_TLS, as the start would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { checkConfigText } from '../helpers/check-config.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { logger } from '../helpers/syslog-rig.js';

const base = 'broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }\nadmin: { enabled: false }\n';

test('a gateway with a syslog source on port 0: its addresses in the start line and /api/sources; a message through a rule into a stream', {
  skip: needBinary('logger', 'bsdutils'),
}, async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    join(dir, 'rules.yaml'),
    "version: 1\nrules:\n  - name: alarms\n    sql: SELECT severityName, appName, message, sourceip() AS ip, topic(2) AS host FROM 'syslog/#' WHERE severity <= 4\n    actions: [{ stream: { name: alarms } }]\n",
  );
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nstreams: { alarms: { maxBytes: 1048576 } }\nexporters: []\nsources:\n  - { type: syslog, name: cabinet, udp: { port: 0 }, tcp: { port: 0 } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const line = gw.logs.find((l) => l.msg === 'gatehouse started')!;
  const [entry] = line.syslog as Array<{ name: string; udp: string; tcp: string }>;
  assert.equal(entry!.name, 'cabinet');
  assert.match(entry!.udp, /^127\.0\.0\.1:\d+$/);
  const api = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as {
    sources: Array<{ kind: string; details?: { listening?: Record<string, string> } }>;
  };
  assert.deepEqual(api.sources.find((s) => s.kind === 'syslog')?.details?.listening, { udp: entry!.udp, tcp: entry!.tcp });
  const tcpPort = Number(entry!.tcp.split(':')[1]);
  await logger(tcpPort, ['--tcp', '--rfc5424', '-t', 'ups', '-p', 'daemon.info'], 'self test passed');
  await logger(tcpPort, ['--tcp', '--rfc5424', '-t', 'ups', '-p', 'daemon.crit'], 'battery failed');
  const rec = await waitUntil(async () => {
    const r = (await (await fetch(`${gw.adminUrl}/api/streams/alarms/records?from=1&limit=10`)).json()) as { records: Array<{ payload: string }> };
    return r.records.length > 0 ? r.records : undefined;
  }, 'the alarm in its stream');
  assert.equal(rec.length, 1, 'the info message is no alarm');
  const p = JSON.parse(rec[0]!.payload) as Record<string, unknown>;
  assert.deepEqual([p.severityName, p.appName, p.message, p.ip], ['crit', 'ups', 'battery failed', '127.0.0.1']);
});

test("a syslog source's TLS certificate renewed with SIGHUP: new handshakes get the new one", async (t) => {
  const dir = await tempDir(t);
  const a = opensslSelfSigned(dir, 1, 'a');
  const b = opensslSelfSigned(dir, 30, 'b');
  await copyFile(a.cert, join(dir, 'tls.crt'));
  await copyFile(a.key, join(dir, 'tls.key'));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nsources:\n  - { type: syslog, name: secure, tls: { port: 0, cert: tls.crt, key: tls.key } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const port = Number((gw.logs.find((l) => l.msg === 'gatehouse started')!.syslog as Array<{ tls: string }>)[0]!.tls.split(':')[1]);
  const served = async (): Promise<string> => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await once(s, 'secureConnect');
    const fp = s.getPeerX509Certificate()!.fingerprint256;
    s.destroy();
    return fp;
  };
  const fp = (file: string) => readFile(file).then((pem) => new X509Certificate(pem).fingerprint256);
  assert.equal(await served(), await fp(a.cert));
  await copyFile(b.cert, join(dir, 'tls.crt'));
  await copyFile(b.key, join(dir, 'tls.key'));
  gw.proc.kill('SIGHUP');
  const want = await fp(b.cert);
  await waitUntil(async () => (await served()) === want, 'the new certificate served', 10_000, 100);
});

test('check-config: missing TLS files of a syslog source named by key; a cert and key of two pairs is GH_SYSLOG_SOURCE_TLS; a good one passes', async (t) => {
  const dir = await tempDir(t);
  const missing = await checkConfigText(
    t,
    `${base}sources:\n  - { type: syslog, name: lan, tls: { cert: ${join(dir, 'no.crt')}, key: ${join(dir, 'no.key')} } }\n`,
  );
  assert.notEqual(missing.code, 0);
  for (const key of ['sources.0.tls.cert', 'sources.0.tls.key']) assert.match(missing.out + missing.err, new RegExp(key.replaceAll('.', '\\.')), key);
  const a = opensslSelfSigned(dir, 1, 'a');
  const b = opensslSelfSigned(dir, 1, 'b');
  const mixed = await checkConfigText(t, `${base}sources:\n  - { type: syslog, name: lan, tls: { cert: ${a.cert}, key: ${b.key} } }\n`);
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.out + mixed.err, /GH_SYSLOG_SOURCE_TLS|cannot load TLS files of lan/);
  const good = await checkConfigText(t, `${base}sources:\n  - { type: syslog, name: lan, tls: { cert: ${a.cert}, key: ${a.key} } }\n`);
  assert.equal(good.code, 0, good.out + good.err);
  const typo = await checkConfigText(t, `${base}sources:\n  - { type: syslog, name: lan, udp: {}, maxMesageBytes: 100 }\n`);
  assert.notEqual(typo.code, 0);
  assert.match(typo.out + typo.err, /maxMessageBytes/);
});
