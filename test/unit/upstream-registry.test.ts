// Destination factories: every kind is registered and bad blocks are refused with key paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDestination, destinationFactories } from '../../gateway/upstream/registry.js';
import { DESTINATION_TYPES } from '../../gateway/upstream/options.js';
import { testDeps } from '../helpers/index.js';
import { isGatehouseError } from '../../core/errors.js';

test('file and http factories build destinations with limits and a safe target', () => {
  const deps = { ...testDeps(), dataDir: '/var/lib/gatehouse' };
  const f = createDestination({ type: 'file' }, deps);
  assert.equal(f.kind, 'file');
  assert.equal(f.target, '/var/lib/gatehouse/export');
  const h = createDestination({ type: 'http', url: 'https://user:pw@example.com/ingest?token=abc', accessKey: 'k' } as { type: 'http' }, deps);
  assert.equal(h.kind, 'http');
  assert.equal(h.target, 'https://example.com/ingest', 'no credentials or query in the target');
  assert.deepEqual(h.limits, { maxRecords: 500, maxRecordBytes: 1000 * 1024, maxBatchBytes: 4 * 1024 * 1024 });
});

test('every registered kind is a known destination type', () => {
  for (const k of Object.keys(destinationFactories)) assert.ok((DESTINATION_TYPES as readonly string[]).includes(k), k);
  assert.ok(destinationFactories.file && destinationFactories.http);
});

test('bad blocks and unavailable kinds are refused clearly', () => {
  assert.throws(() => createDestination({ type: 'http' }, testDeps()), /GH_DESTINATION_CONFIG|url/);
  assert.throws(() => createDestination({ type: 'file', gzip: 'yes' } as { type: 'file' }, testDeps()), /gzip/);
  assert.throws(() => createDestination({ type: 'http' }, testDeps(), {}), /not available/);
});

test('an unknown key inside a destination is refused with its key path (every kind, nested blocks too)', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ type: 'file', dirr: '/tmp/out' }, 'destination.dirr'],
    [{ type: 'http', url: 'http://127.0.0.1:1/', bogus: 1 }, 'destination.bogus'],
    [{ type: 'kinesis', streamName: 's', bogus: true }, 'destination.bogus'],
    [{ type: 'firehose', deliveryStreamName: 'd', recordSeperator: '\n' }, 'destination.recordSeperator'],
    [{ type: 's3', bucket: 'archive', gzipp: true }, 'destination.gzipp'],
    [{ type: 'nats', tls: { caFile: '/x', bogus: 1 } }, 'destination.tls.bogus'],
    [{ type: 'mqtt', url: 'mqtt://h', clientId: 'c', topics: [{ local: '#', remotePrfix: 'x/' }] }, 'destination.topics.0.remotePrfix'],
  ];
  for (const [block, path] of cases) {
    assert.throws(
      () => createDestination(block as { type: 'file' }, testDeps()),
      (err: unknown) => {
        assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'), `${String(block.type)}: ${String(err)}`);
        assert.ok(err.message.includes(`${path}: unknown key`), `${String(block.type)}: ${err.message}`);
        assert.deepEqual(
          (err.details as Array<{ path: string }>).map((p) => p.path),
          [path],
        );
        return true;
      },
    );
  }
});

test('every problem of a destination block is listed, not only the first', () => {
  assert.throws(
    () => createDestination({ type: 'file', gzip: 'yes', maxFileBytes: 1, dirr: 'x' } as { type: 'file' }, testDeps()),
    (err: unknown) => {
      assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'));
      assert.deepEqual((err.details as Array<{ path: string }>).map((p) => p.path).sort(), [
        'destination.dirr',
        'destination.gzip',
        'destination.maxFileBytes',
      ]);
      assert.match(err.message, /file destination is invalid \(3 problems\)/);
      return true;
    },
  );
});

test('nats with createStream and a subject template without a literal head is refused: the stream would capture every subject', () => {
  assert.throws(
    () => createDestination({ type: 'nats', subject: '${stream}', createStream: true } as { type: 'nats' }, testDeps()),
    (err: unknown) => {
      assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'), String(err));
      assert.match(err.message, /destination\.subject: with createStream, the subject template needs a literal head ending with '\.'/);
      return true;
    },
  );
  // A head, or a stream that exists already (no createStream), is fine.
  assert.doesNotThrow(() => createDestination({ type: 'nats', subject: 'site.${stream}', createStream: true } as { type: 'nats' }, testDeps()));
  assert.doesNotThrow(() => createDestination({ type: 'nats', subject: '${stream}' } as { type: 'nats' }, testDeps()));
});

test('only Kinesis and Firehose rebatch throttled records (no batch identity across retries); http keeps its request id, the others have no such partial failure', () => {
  const deps = { ...testDeps(), dataDir: '/var/lib/gatehouse' };
  const blocks: Array<[Record<string, unknown>, boolean]> = [
    [{ type: 'kinesis', streamName: 's', region: 'us-east-1' }, true],
    [{ type: 'firehose', deliveryStreamName: 'd', region: 'us-east-1' }, true],
    [{ type: 'http', url: 'http://127.0.0.1:1/' }, false],
    [{ type: 'file' }, false],
    [{ type: 's3', bucket: 'archive', region: 'us-east-1' }, false],
    [{ type: 'mqtt', url: 'mqtt://127.0.0.1:1', clientId: 'c' }, false],
    [{ type: 'nats', servers: ['nats://127.0.0.1:1'] }, false],
  ];
  for (const [block, rebatch] of blocks) {
    const d = createDestination(block as { type: 'file' }, deps);
    assert.equal(d.rebatch === true, rebatch, `${d.kind}.rebatch`);
  }
});
