// When the broker warns about a TLS listener's certificate expiry (tls-reload.ts): 14 days before
// its notAfter, or in the last third of its lifetime when that is shorter (short-lived
// certificates are renewed long before 14 days), and an error once it passed. A unit over the
// real class with an injected wall clock: dates cannot be made to pass in an e2e.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:tls';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ServedTls, certificateValidity } from '../../gateway/broker/tls-reload.js';
import { readFileSync } from 'node:fs';
import { FIXTURE_CERT_PEM, FIXTURE_KEY_PEM, opensslSelfSigned } from '../helpers/tls-fixture.js';
import { needBinary, tempDir } from '../helpers/index.js';

function logsAt(now: number, pem = { cert: FIXTURE_CERT_PEM, key: FIXTURE_KEY_PEM }): string[] {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()).msg as string);
      done();
    },
  });
  const material = { cert: Buffer.from(pem.cert), key: Buffer.from(pem.key) };
  const server = createServer(material);
  const tls = new ServedTls([{ name: 'mqtts', index: 0, files: { cert: 'cert.pem', key: 'key.pem' }, server, material }], {
    logger: pino({ level: 'info' }, sink),
    registry: new Registry(),
    now: () => now,
  });
  tls.start();
  tls.stop();
  return lines;
}

test('expiry: warned 14 days before notAfter for a long-lived certificate, an error once passed, nothing before', () => {
  const v = certificateValidity(Buffer.from(FIXTURE_CERT_PEM))!; // valid for 100 years
  const day = 86_400_000;
  assert.deepEqual(logsAt(v.notBefore.getTime() + day), []);
  assert.deepEqual(logsAt(v.notAfter.getTime() - 15 * day), []);
  assert.deepEqual(logsAt(v.notAfter.getTime() - 13 * day), ['TLS certificate expires soon']);
  assert.deepEqual(logsAt(v.notAfter.getTime() + 1000), ['TLS certificate has expired: clients that check it refuse to connect']);
});

test('expiry: a short-lived certificate (1 day) is warned about only in the last third of its lifetime', {
  skip: needBinary('openssl', 'openssl'),
}, async (t) => {
  const files = opensslSelfSigned(await tempDir(t), 1);
  const pem = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
  const v = certificateValidity(Buffer.from(pem.cert))!;
  const hour = 3_600_000;
  assert.deepEqual(logsAt(v.notBefore.getTime() + hour, pem), [], 'no warning from its first hour');
  assert.deepEqual(logsAt(v.notAfter.getTime() - 9 * hour, pem), []);
  assert.deepEqual(logsAt(v.notAfter.getTime() - 7 * hour, pem), ['TLS certificate expires soon']);
});
