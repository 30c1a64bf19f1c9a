// gatehouse_destination_calls_total says why a whole call failed (a `reason` from a fixed set), so
// an alert can tell a quota from a wrong key from a network down. The HTTP destination against a
// real HTTP server answering as an endpoint (or a proxy) would, a port nobody listens on and a
// server that never answers; the AWS batch loop (kinesis, firehose) with the errors the SDK throws.
// Before, every failure was counted by outcome alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createDestination } from '../../gateway/upstream/registry.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { awsRejectLog, sendAwsBatch, type AwsBatchCall } from '../../gateway/upstream/destinations/aws-batch.js';
import { destinationMetrics } from '../../gateway/upstream/destinations/common.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { freePort, metricValue, testDeps } from '../helpers/index.js';

const record: StoredRecord = { stream: 's', seq: 1, topic: 'dev/1', payload: Buffer.from('{"n":1}'), receivedAt: 1 };

test('http destination: a failed call is counted under its reason (throttled, auth, client, server, timeout, network)', async (t) => {
  // Each request takes the next answer: a status, or 'hang' (never answer).
  const answers: Array<number | 'hang'> = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const a = answers.shift() ?? 500;
    if (a === 'hang') return void hanging.push(res);
    res.writeHead(a, { 'content-type': 'application/json' }).end('{"errorMessage":"no"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const r of hanging) r.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const deps = testDeps();
  const make = (url: string) => {
    const o = parseExporterOptions({ name: 'cloud', stream: 's', destination: { type: 'http', url, timeoutMs: 300 } });
    return createDestination(o.destination, deps);
  };
  const dest = make(`http://127.0.0.1:${port}/`);
  t.after(() => dest.stop());
  const send = async () => dest.send([record], new AbortController().signal).catch(() => undefined);
  const cases: Array<[number | 'hang', string, string]> = [
    [429, 'throttled', 'retryable'],
    [401, 'auth', 'retryable'],
    [403, 'auth', 'retryable'],
    [400, 'client', 'permanent'],
    [404, 'client', 'retryable'],
    [500, 'server', 'retryable'],
    [503, 'server', 'retryable'],
    ['hang', 'timeout', 'retryable'],
  ];
  for (const [answer, reason, outcome] of cases) {
    const before = await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome, reason });
    answers.push(answer);
    await send();
    assert.equal(
      await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome, reason }),
      before + 1,
      `${answer} -> ${reason}`,
    );
  }
  const closed = make(`http://127.0.0.1:${await freePort(t)}/`);
  t.after(() => closed.stop());
  await closed.send([record], new AbortController().signal).catch(() => undefined);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'retryable', reason: 'network' }), 1);
  // Every failed call has a reason; an ok call none.
  const failed = await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'retryable' });
  const permanent = await metricValue(deps.registry, 'gatehouse_destination_calls_total', { kind: 'http', outcome: 'permanent' });
  assert.equal(failed + permanent, cases.length + 1);
});

test('aws destinations: a whole call the SDK failed is counted under its reason', async () => {
  const sdkError = (name: string, status?: number) => Object.assign(new Error(name), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
  const cases: Array<[Error, string, string]> = [
    [sdkError('ProvisionedThroughputExceededException', 400), 'throttled', 'retryable'],
    [sdkError('UnrecognizedClientException', 400), 'auth', 'retryable'],
    [sdkError('AccessDeniedException', 400), 'auth', 'retryable'],
    [sdkError('ExpiredTokenException', 400), 'auth', 'retryable'],
    [sdkError('ResourceNotFoundException', 400), 'client', 'retryable'],
    [sdkError('ValidationException', 400), 'client', 'permanent'],
    [sdkError('InternalFailure', 500), 'server', 'retryable'],
    [sdkError('TimeoutError'), 'timeout', 'retryable'],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4567'), { code: 'ECONNREFUSED' }), 'network', 'retryable'],
  ];
  for (const [err, reason, outcome] of cases) {
    const deps = testDeps();
    const spec: AwsBatchCall = {
      kind: 'kinesis',
      target: 'k',
      operation: 'PutRecords',
      timeoutMs: 30_000,
      limits: { maxRecords: 10, maxRecordBytes: 100, maxBatchBytes: 1000 },
      metrics: destinationMetrics(deps.registry),
      log: deps.logger,
      rejectLog: awsRejectLog(deps.logger),
      size: () => 1,
      tooLarge: () => 'too large',
      entryFailure: () => ({ ok: false, retryable: true, error: 'x' }),
      put: async () => Promise.reject(err),
    };
    await sendAwsBatch(spec, 1, new AbortController().signal).catch(() => undefined);
    assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { outcome, reason }), 1, `${err.name} -> ${reason}`);
  }
});
