// The http destination to a receiver whose certificate a private CA issued (upstream audit, round
// 13: only `rejectUnauthorized: false` reached one, which trusts anybody). `caFile` names the CA to
// verify against. Real parts: an https server speaking the Firehose HTTP endpoint protocol with an
// openssl certificate (Debian package openssl), a real store and exporter, the real check-config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { startHttpsFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';

const skip = needBinary('openssl', 'openssl');

/** An https Firehose-protocol receiver with a self-signed certificate (its own CA); counts the records it takes. */
async function tlsReceiver(t: TestContext): Promise<{ url: string; cert: string; key: string; records: () => number }> {
  const dir = await tempDir(t);
  const files = opensslSelfSigned(dir);
  const rx = await startHttpsFirehoseReceiver(t, files.cert, files.key);
  return { ...rx, cert: files.cert, key: files.key };
}

test('http destination with caFile: a receiver certified by a private CA is verified and gets the records; without it the backlog is held with the certificate error', {
  skip,
}, async (t) => {
  const rx = await tlsReceiver(t);
  const streams = await openStreams(t);
  await append(streams, 5);
  const untrusted = await startExporter(t, streams, { type: 'http', url: rx.url, timeoutMs: 2000 });
  await waitUntil(() => untrusted.status().retries >= 2, 'sends refused by the certificate check', 10_000);
  assert.match(untrusted.status().lastError?.message ?? '', /self[- ]signed|certificate/i);
  assert.equal(untrusted.status().deadLetters, 0, 'an untrusted certificate holds the backlog');
  assert.equal(rx.records(), 0);
  await untrusted.stop();

  const trusted = await startExporter(t, streams, { type: 'http', url: rx.url, timeoutMs: 2000, caFile: rx.cert });
  await waitUntil(() => trusted.status().lastExportedSeq === 5, 'the 5 records exported', 10_000);
  assert.equal(rx.records(), 5);
});

test('check-config: an http destination caFile that holds no certificate (a key) is refused naming the key', { skip }, async (t) => {
  const rx = await tlsReceiver(t);
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    [
      'streams: { up: {} }',
      'exporters:',
      `  - { name: cloud, stream: up, destination: { type: http, url: "${rx.url}", caFile: ${JSON.stringify(rx.key)} } }`,
      '',
    ].join('\n'),
  );
  const r = await runCaptured(main, ['check-config', file]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.err, /exporters\.0\.destination\.caFile: GH_DESTINATION_CONFIG: HTTP destination of exporter 'cloud': caFile .* holds no PEM certificate/);
});
