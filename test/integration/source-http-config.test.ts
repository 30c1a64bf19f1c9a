// `gatehouse check-config` on http sources (the real CLI, in process): credentials required beyond
// loopback, the TLS and token files named by key path when missing, a certificate and key of two
// pairs said with GH_HTTP_SOURCE_TLS, as at start; a good one passes. And the certificate of a
// running gateway's http source renewed with SIGHUP (systemctl reload), as the broker's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { httpRig, post } from '../helpers/http-post.js';
import { createServer, type AddressInfo } from 'node:net';
import type { GatehouseError } from '../../core/errors.js';
import { checkConfigText } from '../helpers/check-config.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';

const base = 'broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }\nadmin: { enabled: false }\n';

test('check-config: an http source beyond loopback without credentials is refused at sources.0.auth', async (t) => {
  const r = await checkConfigText(t, `${base}sources:\n  - { type: http, name: lan, host: 0.0.0.0, port: 8080 }\n`);
  assert.notEqual(r.code, 0, r.out + r.err);
  assert.match(r.out + r.err, /sources\.0\.auth.*needs credentials/s);
  // the check is on the auth block: '(found an object)' after it read as if a block were wrong
  assert.doesNotMatch(r.out + r.err, /found an object/);
});

test('check-config: missing TLS and token files are named by key; a cert and key of two pairs is GH_HTTP_SOURCE_TLS', async (t) => {
  const dir = await tempDir(t);
  const missing = await checkConfigText(
    t,
    `${base}sources:\n  - type: http\n    name: lan\n    host: "::"\n    port: 8443\n    tls: { cert: ${join(dir, 'no.crt')}, key: ${join(dir, 'no.key')} }\n    auth: { tokens: [{ name: a, tokenFile: ${join(dir, 'no.token')} }] }\n`,
  );
  assert.notEqual(missing.code, 0);
  for (const key of ['sources.0.tls.cert', 'sources.0.tls.key', 'sources.0.auth.tokens.0.tokenFile'])
    assert.match(missing.out + missing.err, new RegExp(key.replaceAll('.', '\\.')), key);
  const a = opensslSelfSigned(dir, 1, 'a');
  const b = opensslSelfSigned(dir, 1, 'b');
  await writeFile(join(dir, 'token'), 'f3b1c2d4e5f60718293a4b5c6d7e8f90\n');
  const yaml = (key: string) =>
    `${base}sources:\n  - type: http\n    name: lan\n    host: "::"\n    port: 8443\n    tls: { cert: ${a.cert}, key: ${key} }\n    auth: { tokens: [{ name: a, tokenFile: ${join(dir, 'token')} }] }\n`;
  const mixed = await checkConfigText(t, yaml(b.key));
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.out + mixed.err, /GH_HTTP_SOURCE_TLS/);
  const good = await checkConfigText(t, yaml(a.key));
  assert.equal(good.code, 0, good.out + good.err);
  // a token file holding a short token: said by check-config, as the start would
  await writeFile(join(dir, 'token'), 'short\n');
  const short = await checkConfigText(t, yaml(a.key));
  assert.notEqual(short.code, 0);
  assert.match(
    short.out + short.err,
    /sources\.lan\.auth\.tokens\.0\.tokenFile.*shorter than 16 characters|shorter than 16 characters.*sources\.lan\.auth\.tokens\.0\.tokenFile/s,
  );
});

test('an http source on a port something else holds: GH_HTTP_SOURCE_LISTEN naming the source and the port, the source failed', async (t) => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const port = (holder.address() as AddressInfo).port;
  const err = await httpRig(t, { port }).then(
    () => undefined,
    (e: unknown) => e as GatehouseError,
  );
  assert.equal(err?.code, 'GH_HTTP_SOURCE_LISTEN');
  assert.match(err.message, new RegExp(`http source 'devices' cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  assert.equal(err.where, 'sources.devices.port');
});

test('an http source with tls in a gateway: SIGHUP serves the renewed certificate to new connections, the source keeps running', async (t) => {
  const dir = await tempDir(t);
  const a = opensslSelfSigned(dir, 1, 'a');
  const b = opensslSelfSigned(dir, 30, 'b');
  const cert = join(dir, 'http.crt');
  const key = join(dir, 'http.key');
  await copyFile(a.cert, cert);
  await copyFile(a.key, key);
  const port = await freePort(t);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nsources:\n  - { type: http, name: lan, port: ${port}, tls: { cert: http.crt, key: http.key } }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const served = async (): Promise<string> => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(s, 'secureConnect');
    const fp = s.getPeerCertificate().fingerprint256;
    s.destroy();
    return fp;
  };
  const fingerprint = (pem: string) => new X509Certificate(readFileSync(pem)).fingerprint256;
  assert.equal(await served(), fingerprint(a.cert));
  await copyFile(b.cert, cert);
  await copyFile(b.key, key);
  gw.proc.kill('SIGHUP');
  await waitUntil(async () => ((await served()) === fingerprint(b.cert) ? true : undefined), 'the renewed certificate served', 10_000, 50);
  const r = await post(port, '/topics/after-reload', 'x', { ca: readFileSync(b.cert) });
  assert.equal(r.status, 200);
});
