// S3 destination against a real s3rver (in process, objects in a temp dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { TestContext } from 'node:test';
import { S3Client, ListObjectsV2Command, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createS3Destination, s3OptionsSchema, compileS3KeyTemplate, ndjsonLine, type S3Options } from '../../gateway/upstream/destinations/s3.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, testDeps } from '../helpers/index.js';
import { startS3rver, type Peer } from '../helpers/peers.js';

// Peers' admin clients get a copy: the AWS SDK writes a $source key into the credentials object it is given.
const creds = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
// 2024-03-05T07:08:09Z
const T0 = Date.UTC(2024, 2, 5, 7, 8, 9);

function rec(seq: number, payload: string | Buffer, extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    stream: 'telemetry',
    seq,
    topic: `fleet/d${seq % 3}/data`,
    receivedAt: T0 + seq,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    ...extra,
  };
}

/** The gateway id the destinations of these tests are given. */
const GW = 'pi-1';

async function setup(t: TestContext, opts: Partial<S3Options> = {}): Promise<{ peer: Peer; admin: S3Client; dest: Destination; dataDir: string }> {
  const peer = await startS3rver(t, ['archive']);
  const dataDir = await tempDir(t, 'gatehouse-s3-');
  const admin = new S3Client({
    region: 'us-east-1',
    endpoint: peer.url,
    forcePathStyle: true,
    credentials: { ...creds },
    requestHandler: new NodeHttpHandler(),
  });
  t.after(() => admin.destroy());
  const dest = createS3Destination(
    s3OptionsSchema.parse({ bucket: 'archive', endpoint: peer.url, forcePathStyle: true, ...creds, requestTimeoutMs: 3000, ...opts }),
    { ...testDeps(), dataDir, gatewayId: GW },
  );
  await dest.start();
  t.after(() => dest.stop());
  return { peer, admin, dest, dataDir };
}

/** The installation id the destination made in `dataDir` (its first send makes it). */
async function installationOf(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, 'installation-id'), 'utf8')).trim();
}

async function keys(admin: S3Client): Promise<string[]> {
  const out = await admin.send(new ListObjectsV2Command({ Bucket: 'archive' }));
  return (out.Contents ?? []).map((c) => c.Key!).sort();
}

async function getBody(admin: S3Client, key: string): Promise<Buffer> {
  const out = await admin.send(new GetObjectCommand({ Bucket: 'archive', Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

test('s3: one NDJSON object per batch under time-partitioned keys; JSON payloads embedded, others base64', async (t) => {
  const { admin, dest, dataDir } = await setup(t);
  const batch = [rec(1, '{"t":21.5}', { key: 'd1' }), rec(2, Buffer.from([0xff, 0x00, 0x01])), rec(3, '{\n "multi": "line"\n}', { attrs: { error: 'x' } })];
  const res = await dest.send(batch, new AbortController().signal);
  assert.ok(res.every((r) => r.ok));
  const installation = await installationOf(dataDir);
  assert.match(installation, /^[0-9a-f]{16}$/);
  const key = `gatehouse/2024/03/05/07/${GW}-${installation}-telemetry-1-3.ndjson`;
  assert.deepEqual(await keys(admin), [key]);
  const head = await admin.send(new HeadObjectCommand({ Bucket: 'archive', Key: key }));
  assert.equal(head.Metadata?.['gatehouse-gateway-id'], GW);
  assert.equal(head.Metadata?.['gatehouse-installation-id'], installation);
  const lines = (await getBody(admin, key)).toString().split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(lines.length, 3);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(parsed[0], { id: 'telemetry:1', stream: 'telemetry', seq: 1, topic: 'fleet/d1/data', receivedAt: T0 + 1, key: 'd1', payload: { t: 21.5 } });
  assert.equal(parsed[1]!.payloadBase64, Buffer.from([0xff, 0x00, 0x01]).toString('base64'));
  assert.deepEqual(parsed[2]!.payload, { multi: 'line' });
  assert.deepEqual(parsed[2]!.attrs, { error: 'x' });
});

test('s3: gzip objects, custom template, and a retried batch overwrites the same key (idempotent)', async (t) => {
  const { admin, dest } = await setup(t, {
    gzip: true,
    prefix: 'site1/',
    keyTemplate: 'dt=!{timestamp:yyyy}-!{timestamp:MM}-!{timestamp:dd}/h=!{timestamp:HH}/{stream}/{firstSeq}-{lastSeq}-{records}',
  });
  const batch = [rec(10, '1'), rec(11, '2')];
  assert.ok((await dest.send(batch, new AbortController().signal)).every((r) => r.ok));
  assert.ok((await dest.send(batch, new AbortController().signal)).every((r) => r.ok));
  const ks = await keys(admin);
  assert.deepEqual(ks, ['site1/dt=2024-03-05/h=07/telemetry/10-11-2.gz']);
  const text = gunzipSync(await getBody(admin, ks[0]!)).toString();
  assert.deepEqual(
    text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { payload: number }).payload),
    [1, 2],
  );
});

test('s3: peer down -> retryable throw; after restart the same batch lands; oversized record rejected alone', async (t) => {
  const { peer, admin, dest, dataDir } = await setup(t, { maxRecordBytes: 100 });
  const batch = [rec(1, 'a'), rec(2, 'b'.repeat(101)), rec(3, '"c"')];
  await peer.down();
  await assert.rejects(dest.send(batch, AbortSignal.timeout(5000)), (err: { code?: string }) => err.code === 'GH_EXPORT_RETRYABLE');
  await peer.up();
  const res = await dest.send(batch, AbortSignal.timeout(5000));
  assert.equal(res[0]!.ok, true);
  assert.equal(!res[1]!.ok && res[1]!.code === 'TOO_LARGE' && !res[1]!.retryable, true);
  assert.equal(res[2]!.ok, true);
  assert.deepEqual(await keys(admin), [`gatehouse/2024/03/05/07/${GW}-${await installationOf(dataDir)}-telemetry-1-3.ndjson`]);
});

test("s3: gateways of a fleet sharing a bucket, a prefix and even a gateway id never replace each other's objects (default key template)", async (t) => {
  // Before: the key was <hour>/<stream>-<firstSeq>-<lastSeq>.ndjson, so two gateways with the
  // default stream archive sending their first records in the same hour wrote one key: the second
  // PutObject replaced the first gateway's object, whose records were counted delivered.
  const { admin, dest } = await setup(t);
  const peerUrl = (dest.target.split(' @ ')[1] ?? '').trim();
  const twin = createS3Destination(
    s3OptionsSchema.parse({ bucket: 'archive', endpoint: peerUrl, forcePathStyle: true, ...creds, requestTimeoutMs: 3000 }),
    // A Raspberry Pi cloned from the same image: the same host name, so the same default gateway id.
    { ...testDeps(), dataDir: await tempDir(t, 'gatehouse-s3-twin-'), gatewayId: GW },
  );
  await twin.start();
  t.after(() => twin.stop());
  assert.ok((await dest.send([rec(1, '{"gw":1}'), rec(2, '{"gw":1}')], new AbortController().signal)).every((r) => r.ok));
  assert.ok((await twin.send([rec(1, '{"gw":2}'), rec(2, '{"gw":2}')], new AbortController().signal)).every((r) => r.ok));
  const ks = await keys(admin);
  assert.equal(ks.length, 2, `one object per gateway: ${ks.join(', ')}`);
  const bodies = await Promise.all(ks.map(async (k) => (await getBody(admin, k)).toString()));
  assert.deepEqual(bodies.map((b) => (JSON.parse(b.split('\n')[0]!) as { payload: { gw: number } }).payload.gw).sort(), [1, 2]);
});

test('s3: the installation id is kept in the data dir: a destination made again (a restart) writes the same keys, so a resent batch replaces its own object', async (t) => {
  const { admin, dest, dataDir } = await setup(t);
  assert.ok((await dest.send([rec(1, 'a'), rec(2, 'b')], new AbortController().signal)).every((r) => r.ok));
  await dest.stop();
  const peerUrl = (dest.target.split(' @ ')[1] ?? '').trim();
  const again = createS3Destination(s3OptionsSchema.parse({ bucket: 'archive', endpoint: peerUrl, forcePathStyle: true, ...creds }), {
    ...testDeps(),
    dataDir,
    gatewayId: GW,
  });
  await again.start();
  t.after(() => again.stop());
  assert.ok((await again.send([rec(1, 'a'), rec(2, 'b')], new AbortController().signal)).every((r) => r.ok));
  assert.deepEqual(await keys(admin), [`gatehouse/2024/03/05/07/${GW}-${await installationOf(dataDir)}-telemetry-1-2.ndjson`]);
});

test('s3: a missing bucket is retryable (holds the backlog), bad templates fail at construction', async (t) => {
  const { peer } = await setup(t);
  const other = createS3Destination(s3OptionsSchema.parse({ bucket: 'nope-bucket', endpoint: peer.url, forcePathStyle: true, ...creds }), testDeps());
  await other.start();
  t.after(() => other.stop());
  await assert.rejects(other.send([rec(1, 'x')], new AbortController().signal), /NoSuchBucket/);
  assert.throws(() => compileS3KeyTemplate('!{timestamp:YYYY}/x'), /unknown time partition/);
  assert.throws(() => compileS3KeyTemplate('{oops}'), /unknown field/);
  assert.equal(ndjsonLine(rec(5, 'hi'), 'utf8').endsWith('"payloadText":"hi"}'), true);
});
