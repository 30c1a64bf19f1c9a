// Firehose destination. TEST DOUBLE: there is no local Firehose (no real part exists), so this
// file runs a small HTTP server that speaks Firehose's JSON API for PutRecordBatch
// (X-Amz-Target: Firehose_20150804.PutRecordBatch, application/x-amz-json-1.1). It records every
// request and fails the records we choose, with the per-record ErrorCodes the service uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { createFirehoseDestination, firehoseOptionsSchema } from '../../gateway/upstream/destinations/firehose.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { metricValue, testDeps } from '../helpers/index.js';

interface FakeFirehose {
  url: string;
  /** Decoded records of every accepted call, in arrival order. */
  accepted: string[];
  calls: { target: string; stream: string; count: number }[];
  /** Per-record failure to inject, by record data (decoded). */
  failData: Map<string, 'ServiceUnavailableException' | 'InternalFailure'>;
  /** Whole-call status to answer next (once). */
  nextStatus?: { status: number; type: string };
}

async function startFakeFirehose(t: TestContext): Promise<FakeFirehose> {
  const fake: FakeFirehose = { url: '', accepted: [], calls: [], failData: new Map() };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      if (fake.nextStatus) {
        const s = fake.nextStatus;
        delete fake.nextStatus;
        reply(s.status, { __type: s.type, message: `injected ${s.type}` });
        return;
      }
      if (target !== 'Firehose_20150804.PutRecordBatch' || !String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) {
        reply(400, { __type: 'UnknownOperationException', message: `unexpected ${target}` });
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { DeliveryStreamName: string; Records: { Data: string }[] };
      fake.calls.push({ target, stream: body.DeliveryStreamName, count: body.Records.length });
      let failed = 0;
      const responses = body.Records.map((r, i) => {
        const data = Buffer.from(r.Data, 'base64').toString();
        const fail = fake.failData.get(data);
        if (fail) {
          failed++;
          fake.failData.delete(data); // fail once: the resend succeeds
          return { ErrorCode: fail, ErrorMessage: `injected ${fail}` };
        }
        fake.accepted.push(data);
        return { RecordId: `rid-${fake.accepted.length}-${i}` };
      });
      reply(200, { FailedPutCount: failed, Encrypted: false, RequestResponses: responses });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  fake.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return fake;
}

function rec(seq: number, data = `r${seq}`): StoredRecord {
  return { stream: 's', seq, topic: 't', receivedAt: seq, payload: Buffer.from(data) };
}

// Peers' admin clients get a copy: the AWS SDK writes a $source key into the credentials object it is given.
const creds = { accessKeyId: 'local', secretAccessKey: 'local-secret' };

test('firehose: partial failures map per record; the resend of only the failed ones succeeds', async (t) => {
  const fake = await startFakeFirehose(t);
  const deps = testDeps();
  const dest = createFirehoseDestination(firehoseOptionsSchema.parse({ deliveryStreamName: 'ds', endpoint: fake.url, ...creds, recordSeparator: '\n' }), deps);
  await dest.start();
  t.after(() => dest.stop());
  const records = [rec(1), rec(2), rec(3), rec(4)];
  fake.failData.set('r2\n', 'ServiceUnavailableException');
  fake.failData.set('r4\n', 'InternalFailure');
  const res = await dest.send(records, new AbortController().signal);
  assert.equal(res[0]!.ok, true);
  assert.equal(res[2]!.ok, true);
  assert.deepEqual({ ...res[1]!, error: '' }, { ok: false, retryable: true, error: '', code: 'THROTTLED' });
  assert.deepEqual({ ...res[3]!, error: '' }, { ok: false, retryable: true, error: '', code: 'InternalFailure' });
  assert.deepEqual(fake.calls, [{ target: 'Firehose_20150804.PutRecordBatch', stream: 'ds', count: 4 }]);
  const again = await dest.send([records[1]!, records[3]!], new AbortController().signal);
  assert.ok(again.every((r) => r.ok));
  assert.deepEqual(fake.accepted, ['r1\n', 'r3\n', 'r2\n', 'r4\n'], 'separator appended, every record once');
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'firehose', outcome: 'partial' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { kind: 'firehose' }), 2);
});

test('firehose: whole-call throttling throws (retryable), validation errors are permanent, oversized records rejected alone', async (t) => {
  const fake = await startFakeFirehose(t);
  const deps = testDeps();
  const dest = createFirehoseDestination(firehoseOptionsSchema.parse({ deliveryStreamName: 'ds', endpoint: fake.url, ...creds }), deps);
  await dest.start();
  t.after(() => dest.stop());
  fake.nextStatus = { status: 400, type: 'ThrottlingException' };
  await assert.rejects(dest.send([rec(1)], new AbortController().signal), /GH_EXPORT_RETRYABLE|Firehose PutRecordBatch failed/);
  fake.nextStatus = { status: 500, type: 'ServiceUnavailableException' };
  await assert.rejects(dest.send([rec(1)], new AbortController().signal));
  fake.nextStatus = { status: 400, type: 'InvalidArgumentException' };
  const res = await dest.send([rec(1), rec(2)], new AbortController().signal);
  assert.ok(
    res.every((r) => !r.ok && !r.retryable && r.code === 'InvalidArgumentException'),
    JSON.stringify(res),
  );
  const big = rec(2, 'x'.repeat(1000 * 1024 + 1));
  const mixed = await dest.send([rec(1), big, rec(3)], new AbortController().signal);
  assert.equal(mixed[0]!.ok, true);
  assert.equal(mixed[1]!.ok === false && mixed[1]!.code, 'TOO_LARGE');
  assert.equal(mixed[2]!.ok, true);
  assert.deepEqual(fake.accepted, ['r1', 'r3']);
  assert.equal(dest.target.includes('local-secret'), false, 'no secret in target');
});

test('firehose: a batch over the call limits is split into several calls', async (t) => {
  const fake = await startFakeFirehose(t);
  const dest = createFirehoseDestination(firehoseOptionsSchema.parse({ deliveryStreamName: 'ds', endpoint: fake.url, ...creds, maxRecords: 2 }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  const res = await dest.send([rec(1), rec(2), rec(3), rec(4), rec(5)], new AbortController().signal);
  assert.ok(res.every((r) => r.ok));
  assert.deepEqual(
    fake.calls.map((c) => c.count),
    [2, 2, 1],
  );
  assert.deepEqual(fake.accepted, ['r1', 'r2', 'r3', 'r4', 'r5']);
});
