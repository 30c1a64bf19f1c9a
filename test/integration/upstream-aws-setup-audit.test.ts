// AWS destinations whose setup is wrong (credentials, endpoint, region, clock): the service (or
// whatever answers at the endpoint) rejects every call. That is no fault of the records: the
// backlog must be held (last error says what to fix), never dead-lettered wholesale; once the
// setup is fixed, every record is delivered. Real s3rver (it checks signatures), real store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { classifyAwsError } from '../../gateway/upstream/destinations/aws-common.js';
import { waitUntil } from '../helpers/index.js';
import { s3Sink } from '../helpers/upstream-e2e.js';
import { startKinesalite, startS3rver } from '../helpers/peers.js';
import { append, assertHeld, openStreams, startExporter } from '../helpers/exporter-rig.js';

test('s3 with wrong credentials: the backlog is held (not dead-lettered), then delivered once the credentials are fixed', { timeout: 60_000 }, async (t) => {
  const peer = await startS3rver(t, ['archive']);
  const streams = await openStreams(t);
  const base = { type: 's3', bucket: 'archive', endpoint: peer.url, forcePathStyle: true, requestTimeoutMs: 3000 };
  const wrong = await startExporter(t, streams, { ...base, accessKeyId: 'WRONG', secretAccessKey: 'WRONG' });
  await append(streams, 12);
  await assertHeld(wrong, streams, 12, /InvalidAccessKeyId/);
  await wrong.stop();

  // The user fixes the key and restarts: every record arrives.
  await startExporter(t, streams, { ...base, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
  const sink = await s3Sink(t, peer.url, 'archive');
  const got = await waitUntil(async () => ((await sink.read()).length >= 12 ? sink.read() : undefined), '12 records in the bucket', 15_000);
  assert.deepEqual(
    got.map((a) => a.i).sort((a, b) => a - b),
    [...Array(12).keys()],
  );
});

test('s3 after the gateway clock stepped 20 min ahead (RequestTimeTooSkewed): the batch is held, then delivered once the SDK corrects its clock offset', {
  timeout: 60_000,
}, async (t) => {
  const peer = await startS3rver(t, ['archive']);
  const streams = await openStreams(t);
  // One record: a batch of several would be split by isolatePermanent and its halves signed with
  // the corrected offset, hiding a permanent verdict; a lone record was dead-lettered at once.
  await append(streams, 1);
  // The step: Date.now (what the SDK signs with) runs 20 minutes ahead; s3rver checks the request
  // time against its own clock (new Date(), unaffected) and allows 15 minutes.
  const realNow = Date.now;
  Date.now = () => realNow() + 20 * 60_000;
  t.after(() => {
    Date.now = realNow;
  });
  const exporter = await startExporter(t, streams, {
    type: 's3',
    bucket: 'archive',
    endpoint: peer.url,
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requestTimeoutMs: 3000,
  });
  // The SDK reads the server's Date from the refusal and signs the next call with that offset.
  const sink = await s3Sink(t, peer.url, 'archive');
  const got = await waitUntil(async () => ((await sink.read()).length >= 1 ? sink.read() : undefined), 'the record in the bucket', 15_000);
  const st = exporter.status();
  assert.match(st.lastError?.message ?? '', /RequestTimeTooSkewed/, 'the skew was met');
  assert.equal(st.deadLetters, 0, 'nothing dead-lettered for a skewed clock');
  assert.equal(streams.info('up-dlq').lastSeq, 0);
  assert.deepEqual(
    got.map((a) => a.i).sort((a, b) => a - b),
    [0],
  );
});

test('s3 and firehose with an endpoint that is not the service (a web server answering 404 HTML): held, not dead-lettered', { timeout: 60_000 }, async (t) => {
  const web = createServer((req, res) => {
    req.resume();
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<html><body>Not Found</body></html>');
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  t.after(() => {
    web.closeAllConnections();
    web.close();
  });
  const addr = web.address();
  const endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const creds = { accessKeyId: 'AKID', secretAccessKey: 'SECRET', requestTimeoutMs: 3000 };

  const s3Streams = await openStreams(t);
  const s3 = await startExporter(t, s3Streams, { type: 's3', bucket: 'archive', endpoint, forcePathStyle: true, ...creds });
  await append(s3Streams, 4);
  await assertHeld(s3, s3Streams, 4, /404|NotFound/);

  const fhStreams = await openStreams(t);
  const fh = await startExporter(t, fhStreams, { type: 'firehose', deliveryStreamName: 'telemetry', endpoint, ...creds });
  await append(fhStreams, 4);
  await assertHeld(fh, fhStreams, 4, /404|not valid JSON|Deserialization/);
});

test('classifyAwsError: credential, signature, clock-skew and wrong-region errors are setup faults (retryable), validation stays permanent', () => {
  const err = (name: string, status: number): unknown =>
    Object.assign(new Error(`${name} message`), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
  for (const [name, status] of [
    ['UnrecognizedClientException', 400], // Kinesis/Firehose: unknown access key
    ['InvalidSignatureException', 400], // wrong secret, or "Signature expired" after a clock step
    ['AccessDeniedException', 400], // IAM policy
    ['IncompleteSignatureException', 400],
    ['MissingAuthenticationTokenException', 403],
    ['InvalidClientTokenId', 403],
    ['InvalidAccessKeyId', 403], // S3
    ['SignatureDoesNotMatch', 403],
    ['AccessDenied', 403],
    ['RequestTimeTooSkewed', 403], // S3: gateway clock off by > 15 min
    ['AuthorizationHeaderMalformed', 400], // S3: wrong region
    ['PermanentRedirect', 301], // S3: bucket in another region
    ['KMSAccessDeniedException', 400],
    ['Whatever', 401],
    ['Whatever', 403],
  ] as const) {
    const c = classifyAwsError(err(name, status));
    assert.equal(c.retryable, true, `${name} (${status}) is retryable`);
    assert.equal(c.setup, true, `${name} (${status}) is a setup fault`);
  }
  for (const [name, status] of [
    ['ValidationException', 400],
    ['InvalidArgumentException', 400],
    ['SerializationException', 400],
    ['EntityTooLarge', 400],
  ] as const) {
    const c = classifyAwsError(err(name, status));
    assert.equal(c.retryable, false, `${name} (${status}) stays permanent`);
  }
});

test('kinesis stream or s3 bucket that does not exist: held, and the last error says which option to check', { timeout: 60_000 }, async (t) => {
  const kinesalite = await startKinesalite(t);
  const kStreams = await openStreams(t);
  const k = await startExporter(t, kStreams, {
    type: 'kinesis',
    streamName: 'no-such-stream',
    region: 'eu-west-1',
    endpoint: kinesalite.url,
    accessKeyId: 'AKID',
    secretAccessKey: 'SECRET',
    requestTimeoutMs: 3000,
  });
  await append(kStreams, 3);
  await assertHeld(k, kStreams, 3, /ResourceNotFoundException/);
  assert.match(k.status().lastError?.message ?? '', /Fix: .*streamName.*region/, k.status().lastError?.message);

  const s3 = await startS3rver(t, ['archive']);
  const sStreams = await openStreams(t);
  const b = await startExporter(t, sStreams, {
    type: 's3',
    bucket: 'no-such-bucket',
    endpoint: s3.url,
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requestTimeoutMs: 3000,
  });
  await append(sStreams, 3);
  await assertHeld(b, sStreams, 3, /NoSuchBucket/);
  assert.match(b.status().lastError?.message ?? '', /Fix: .*bucket.*region/, b.status().lastError?.message);
});
