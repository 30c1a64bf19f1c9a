// The upstream certificates' watch (gateway/upstream/cert-watch.ts) by the rule of the served ones
// (core/cert-expiry.ts), over real openssl-made files with an injected wall clock: a short-lived
// (24 h) client certificate warned about only in the last third of its life; a CA bundle's date is
// that of its first certificate to expire; and when a failed connection is said to be an expired
// certificate's (cert-expired.ts): not for a name that does not resolve or a refused port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CertWatch } from '../../gateway/upstream/cert-watch.js';
import { ruleActionCertificates } from '../../gateway/config/client-certs.js';
import { expiredCertificateReason } from '../../gateway/upstream/cert-expired.js';
import type { ClientCertificate } from '../../gateway/upstream/cert-watch.js';
import { needBinary, tempDir } from '../helpers/index.js';
import { testCa } from '../helpers/cert-dates.js';

const skip = needBinary('openssl', 'openssl');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function watchAt(now: number, certs: ClientCertificate[]): Promise<{ msgs: string[]; registry: Registry; watch: CertWatch }> {
  const msgs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      msgs.push(JSON.parse(chunk.toString()).msg as string);
      done();
    },
  });
  const registry = new Registry();
  const watch = new CertWatch(certs, { logger: pino({ level: 'info' }, sink), registry, now: () => now });
  await watch.start();
  watch.stop();
  return { msgs, registry, watch };
}

const entry = (use: 'client' | 'ca', file: string): ClientCertificate => ({
  use,
  kind: 'exporter',
  connection: 'plant',
  file,
  where: `exporters.0.destination.${use === 'ca' ? 'caFile' : 'certFile'}`,
  what: `the ${use === 'ca' ? 'CA bundle' : 'client certificate'} of exporter 'plant'`,
});

test('upstream certificate expiry: a 24 h client certificate is warned about only in its last third, an error once past', { skip }, async (t) => {
  const dir = await tempDir(t);
  const start = Date.UTC(2026, 11, 7, 0, 0, 0);
  const c = testCa(dir).issue('short', 'gw', new Date(start), new Date(start + DAY));
  const at = async (now: number): Promise<string[]> => (await watchAt(now, [entry('client', c.cert)])).msgs;
  assert.deepEqual(await at(start + HOUR), [], 'nothing in its first hours (a 14-day rule would warn from the first minute)');
  assert.deepEqual(await at(start + DAY - 9 * HOUR), []);
  const soon = await at(start + DAY - 7 * HOUR);
  assert.equal(soon.length, 1);
  assert.match(
    soon[0]!,
    /^TLS certificate expires soon: the client certificate of exporter 'plant' \(.*short\.pem\) expires on 2026-12-08T00:00:00\.000Z \(in 7 hour\(s\)\)$/,
  );
  const past = await at(start + DAY + 1000);
  assert.match(
    past[0]!,
    /^TLS certificate has expired: .* expired on 2026-12-08T00:00:00\.000Z .*by this gateway's clock\); the server refuses the connection$/,
  );
});

test("upstream certificate expiry: a CA bundle's gauge is its first certificate to expire; an unreadable file has no gauge", { skip }, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.UTC(2026, 11, 7);
  const early = ca.issue('early', 'early', new Date(now - DAY), new Date(now + 100 * DAY));
  const late = ca.issue('late', 'late', new Date(now - DAY), new Date(now + 300 * DAY));
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, readFileSync(late.cert, 'utf8') + readFileSync(early.cert, 'utf8'));
  const { msgs, registry, watch } = await watchAt(now, [entry('ca', bundle), { ...entry('client', join(dir, 'missing.pem')), connection: 'gone' }]);
  assert.deepEqual(msgs, []);
  const metrics = await registry.metrics();
  assert.match(
    metrics,
    new RegExp(`gatehouse_tls_cert_expiry_timestamp_seconds\\{use="ca",kind="exporter",connection="plant"\\} ${(now + 100 * DAY) / 1000}\\n`),
  );
  assert.doesNotMatch(metrics, /connection="gone"/);
  assert.deepEqual(
    watch.all().map((e) => [e.connection, e.state, e.subject ?? null]),
    [
      ['plant', 'ok', 'CN=early'],
      ['gone', 'unreadable', null],
    ],
  );
});

test('an upstream connection that failed is said to be an expired certificate only where that can be the cause', { skip }, async (t) => {
  const dir = await tempDir(t);
  const ca = testCa(dir);
  const now = Date.UTC(2026, 11, 7);
  const old = ca.issue('old', 'gw', new Date(now - 30 * DAY), new Date(now - DAY));
  const good = ca.issue('good', 'gw', new Date(now - DAY), new Date(now + 30 * DAY));
  const pem = (f: string): Buffer => readFileSync(f);
  const expired = { cert: { file: old.cert, pem: pem(old.cert) } };
  // A bare reset in the handshake (AWS IoT Core), a TLS alert (mosquitto): the certificate.
  assert.match(
    expiredCertificateReason('bridge', expired, 'read ECONNRESET', now)!,
    /^bridge: the client certificate .*old\.pem expired on 2026-12-06T00:00:00\.000Z \(1 day\(s\) ago, by this gateway's clock\).*\(the connection failed: read ECONNRESET\)$/,
  );
  assert.ok(expiredCertificateReason('bridge', expired, 'sslv3 alert certificate expired', now));
  // A name that does not resolve, a refused port: not the certificate's doing.
  assert.equal(expiredCertificateReason('bridge', expired, 'getaddrinfo ENOTFOUND broker.example', now), undefined);
  assert.equal(expiredCertificateReason('bridge', expired, 'connect ECONNREFUSED 127.0.0.1:8883', now), undefined);
  // A good certificate: nothing, whatever the error.
  assert.equal(expiredCertificateReason('bridge', { cert: { file: good.cert, pem: pem(good.cert) } }, 'read ECONNRESET', now), undefined);
  // An expired CA: only when the server's certificate did not verify.
  const caFiles = { ca: { file: old.cert, pem: pem(old.cert) } };
  assert.equal(expiredCertificateReason('bridge', caFiles, 'read ECONNRESET', now), undefined);
  assert.match(
    expiredCertificateReason('bridge', caFiles, 'certificate has expired', now)!,
    /the CA bundle .*old\.pem holds a certificate that expired on 2026-12-06/,
  );
});

test("the certificates of a rule set's upstream actions: each labelled by rule and action, errorAction and nats' tls included, refused options skipped", () => {
  const certs = ruleActionCertificates({
    version: 1,
    rules: [
      {
        name: 'alerts',
        sql: "SELECT * FROM 'a/#'",
        actions: [{ republish: { topic: 'x' } }, { mqtt: { url: 'mqtts://h:8883', caFile: '/c/ca.pem', certFile: '/c/a.pem', keyFile: '/c/a.key' } }],
        errorAction: { nats: { servers: ['tls://h:4222'], subject: 'e', tls: { caFile: '/c/nca.pem', certFile: '/c/n.pem', keyFile: '/c/n.key' } } },
      },
      // An AWS option that means something else here: the set is refused with it, so never watched.
      { name: 'copied', sql: "SELECT * FROM 'b/#'", actions: [{ http: { url: 'https://h/', caFile: '/c/h.pem', headers: [] } }] },
      { name: 'lake', sql: "SELECT * FROM 'c/#'", actions: [{ s3: { bucket: 'b', region: 'eu-west-1', caFile: '/c/s3.pem' } }] },
    ],
  });
  assert.deepEqual(
    certs.map((c) => [c.use, c.kind, c.connection, c.file, c.where]),
    [
      ['ca', 'rule', 'alerts/actions.1.mqtt', '/c/ca.pem', 'rules.0.actions.1.mqtt.caFile'],
      ['client', 'rule', 'alerts/actions.1.mqtt', '/c/a.pem', 'rules.0.actions.1.mqtt.certFile'],
      ['ca', 'rule', 'alerts/errorAction.nats', '/c/nca.pem', 'rules.0.errorAction.nats.tls.caFile'],
      ['client', 'rule', 'alerts/errorAction.nats', '/c/n.pem', 'rules.0.errorAction.nats.tls.certFile'],
      ['ca', 'rule', 'lake/actions.0.s3', '/c/s3.pem', 'rules.2.actions.0.s3.caFile'],
    ],
  );
  assert.equal(certs[1]!.what, "the client certificate of the mqtt action at actions.1 of rule 'alerts'");
  assert.deepEqual(ruleActionCertificates(undefined), []);
});
