// The warning of an s3 destination whose keyTemplate lacks ${installationId} (docs/destinations.md,
// "A fleet writing to one bucket"): it says what to write, and the default key (and the example of
// the docs, which has ${installationId}) draws none. Only the destination's construction runs
// here: no request is made, so no S3 peer is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createS3Destination, s3OptionsSchema } from '../../gateway/upstream/destinations/s3.js';

function warnings(keyTemplate: string | undefined): string[] {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(String((JSON.parse(l) as { msg: string }).msg)) });
  const options = s3OptionsSchema.parse({ bucket: 'my-archive', prefix: 'site1/', region: 'eu-west-1', ...(keyTemplate ? { keyTemplate } : {}) });
  createS3Destination(options, { logger, registry: new Registry(), gatewayId: 'site1', installationId: async () => '3f9c0a7d12e4b856' });
  return lines;
}

test('s3: a keyTemplate without ${installationId} is warned about with the fix; the default key and the documented example are not', () => {
  const w = warnings('${timestamp:yyyy}/${timestamp:MM}/${timestamp:dd}/${timestamp:HH}/${stream}-${firstSeq}-${lastSeq}.ndjson');
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0]!, /has no \$\{installationId\}: another gateway writing to the same bucket and prefix/);
  assert.match(w[0]!, /Fix: add \$\{installationId\} to keyTemplate \(the default key has it\), or give each gateway a prefix of its own$/);
  assert.deepEqual(warnings(undefined), []);
  assert.deepEqual(warnings('${timestamp:yyyy}/${timestamp:MM}/${timestamp:dd}/${timestamp:HH}/${installationId}-${stream}-${firstSeq}-${lastSeq}.ndjson'), []);
});
