// An AWS destination on a machine with no credentials anywhere (none in its options, the
// environment, the shared files; the instance metadata lookup off): the SDK sends nothing, and the
// error says that, with where credentials go, not that "the service refused this gateway's setup"
// (the round-39 trial followed the README to Kinesis and read that). No peer: the call fails before
// any connection (the endpoint is a closed port, and is never dialled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isGatehouseError } from '../../core/errors.js';
import { createKinesisDestination, kinesisOptionsSchema } from '../../gateway/upstream/destinations/kinesis.js';
import { createFirehoseDestination, firehoseOptionsSchema } from '../../gateway/upstream/destinations/firehose.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { testDeps } from '../helpers/index.js';

// This file's own process (node --test runs each file in one): its environment is its own.
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
process.env.AWS_CONFIG_FILE = '/nonexistent/config';
for (const k of [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
])
  delete process.env[k];

const record = { stream: 's', seq: 1, topic: 'fleet/t1/data', receivedAt: 1_796_000_000_000, payload: Buffer.from('{"v":1}') };

for (const [kind, make] of [
  [
    'kinesis',
    () =>
      createKinesisDestination(
        kinesisOptionsSchema.parse({ streamName: 'gh', region: 'us-east-1', endpoint: 'http://127.0.0.1:9', sdkMaxAttempts: 1 }),
        testDeps(),
      ),
  ],
  [
    'firehose',
    () =>
      createFirehoseDestination(
        firehoseOptionsSchema.parse({ deliveryStreamName: 'gh', region: 'us-east-1', endpoint: 'http://127.0.0.1:9', sdkMaxAttempts: 1 }),
        testDeps(),
      ),
  ],
] as const) {
  test(`${kind}: no credentials on the machine: retryable, nothing sent, the hint says where credentials go`, async (t) => {
    const dest: Destination = make();
    await dest.start();
    t.after(() => dest.stop());
    await assert.rejects(
      dest.send([record], new AbortController().signal),
      (err: unknown) =>
        isGatehouseError(err, 'GH_EXPORT_RETRYABLE') &&
        /CredentialsProviderError/.test(err.message) &&
        /^no AWS credentials were found on this machine, nothing was sent: give the destination accessKeyId and secretAccessKey/.test(err.hint ?? '') &&
        !/refused this gateway's setup/.test(err.hint ?? ''),
    );
  });
}
