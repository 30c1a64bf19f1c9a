// refreshTlsFiles (core/tls-files.ts): what a reconnecting TLS client (MQTT bridge, control
// channel) takes from disk. The renewal itself, end to end: upstream-mqtt-cert-renewal.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { refreshTlsFiles, type TlsFileOptions } from '../../core/tls-files.js';
import { tempDir } from '../helpers/index.js';
import { FIXTURE_CERT_PEM, FIXTURE_KEY_PEM } from '../helpers/tls-fixture.js';

test('refreshTlsFiles: unchanged files change nothing, changed ones are taken, a mismatched or unreadable set keeps the previous one', async (t) => {
  const dir = await tempDir(t);
  const paths = { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  await writeFile(paths.ca, FIXTURE_CERT_PEM);
  await writeFile(paths.cert, FIXTURE_CERT_PEM);
  await writeFile(paths.key, FIXTURE_KEY_PEM);
  const options: TlsFileOptions = {};
  assert.deepEqual(refreshTlsFiles(options, paths), { changed: true });
  assert.equal(String(options.cert), FIXTURE_CERT_PEM);
  assert.deepEqual(refreshTlsFiles(options, paths), { changed: false });

  // A renewal caught half written: a key of another pair beside the certificate.
  const otherKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
  await writeFile(paths.key, otherKey);
  const mismatched = refreshTlsFiles(options, paths);
  assert.equal(mismatched.changed, false);
  assert.match('error' in mismatched ? mismatched.error : '', /do not load as a pair/);
  assert.equal(String(options.key), FIXTURE_KEY_PEM, 'the previous key is kept');

  // A file gone: the previous set is kept, with the reason.
  await writeFile(paths.key, FIXTURE_KEY_PEM);
  const gone = refreshTlsFiles(options, { ...paths, ca: join(dir, 'missing.pem') });
  assert.match('error' in gone ? gone.error : '', /cannot read/);
  assert.equal(String(options.ca), FIXTURE_CERT_PEM);
});
