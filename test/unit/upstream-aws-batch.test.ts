// The shared AWS batch loop (aws-batch.ts) on its own. No AWS service is involved here: `put` is the
// destination's own hook (what one call sends and what the service answered), so the test supplies
// one that records each call and answers as a service would. The same loop against a real service
// is covered by upstream-kinesis.test.ts (kinesalite), upstream-firehose and upstream-s3 (s3rver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsRejectLog, sendAwsBatch, type AwsBatchCall, type AwsEntryOutcome } from '../../gateway/upstream/destinations/aws-batch.js';
import { destinationMetrics } from '../../gateway/upstream/destinations/common.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue, testDeps } from '../helpers/index.js';

function call(sizes: number[], answer: (idx: readonly number[]) => readonly AwsEntryOutcome[] | Error, deps = testDeps()) {
  const calls: number[][] = [];
  const spec: AwsBatchCall = {
    kind: 'kinesis',
    target: 'test-target',
    operation: 'Test Put',
    timeoutMs: 30_000,
    limits: { maxRecords: 3, maxRecordBytes: 100, maxBatchBytes: 150 },
    metrics: destinationMetrics(deps.registry),
    log: deps.logger,
    rejectLog: awsRejectLog(deps.logger),
    size: (i) => sizes[i]!,
    tooLarge: (i, bytes) => `item ${i} of ${bytes} bytes is too large`,
    entryFailure: (code, message) => ({ ok: false, retryable: true, error: `${code}: ${message ?? ''}`, code: code === 'Slow' ? 'THROTTLED' : code }),
    async put(idx) {
      calls.push([...idx]);
      const a = answer(idx);
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return { spec, calls, deps };
}

const allOk = (idx: readonly number[]): AwsEntryOutcome[] => idx.map(() => ({ ok: true }));

test('oversize items are rejected alone (GH_EXPORT_PERMANENT, TOO_LARGE); the rest are cut by count and bytes, in order', async () => {
  const { spec, calls, deps } = call([10, 10, 10, 10, 101, 90, 60, 10], allOk);
  const res = await sendAwsBatch(spec, 8, new AbortController().signal);
  assert.deepEqual(calls, [
    [0, 1, 2],
    [3, 5],
    [6, 7],
  ]);
  assert.deepEqual(
    res.map((r) => r.ok),
    [true, true, true, true, false, true, true, true],
  );
  const bad = res[4]!;
  assert.ok(!bad.ok && !bad.retryable && bad.code === 'TOO_LARGE');
  assert.equal(bad.ok ? '' : bad.error, 'GH_EXPORT_PERMANENT: item 4 of 101 bytes is too large');
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_record_failures_total', { code: 'TOO_LARGE' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { outcome: 'ok' }), 3);
});

test('per-entry service errors become per-record results; a missing entry is never a success', async () => {
  const { spec, deps } = call([1, 1, 1], () => [{ ok: true }, { ok: false, errorCode: 'Slow', errorMessage: 'rate' }, undefined]);
  const res = await sendAwsBatch(spec, 3, new AbortController().signal);
  assert.deepEqual(res[0], { ok: true });
  assert.deepEqual(res[1], { ok: false, retryable: true, error: 'Slow: rate', code: 'THROTTLED' });
  assert.ok(!res[2]!.ok && res[2]!.retryable && res[2]!.code === 'NO_RESULT');
  assert.equal(await metricValue(deps.registry, 'gatehouse_destination_calls_total', { outcome: 'partial' }), 1);
});

test('a whole-call client error is permanent for that call only; throttling and network errors throw retryable', async () => {
  const validation = Object.assign(new Error('bad request'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
  const first = call([10, 10, 10, 10], (idx) => (idx[0] === 0 ? validation : allOk(idx)));
  const res = await sendAwsBatch(first.spec, 4, new AbortController().signal);
  assert.deepEqual(
    res.map((r) => r.ok),
    [false, false, false, true],
  );
  assert.ok(!res[0]!.ok && !res[0]!.retryable && res[0]!.code === 'ValidationException' && res[0]!.error.startsWith('GH_EXPORT_PERMANENT: Test Put rejected'));
  assert.equal(await metricValue(first.deps.registry, 'gatehouse_destination_calls_total', { outcome: 'permanent' }), 1);

  for (const err of [
    Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } }),
    Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    Object.assign(new Error('oops'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }),
  ]) {
    const c = call([10], () => err);
    await assert.rejects(
      sendAwsBatch(c.spec, 1, new AbortController().signal),
      (e: unknown) => isGatehouseError(e, 'GH_EXPORT_RETRYABLE') && e.where === 'test-target' && e.cause === err,
    );
    assert.equal(await metricValue(c.deps.registry, 'gatehouse_destination_calls_total', { outcome: 'retryable' }), 1);
  }
});
