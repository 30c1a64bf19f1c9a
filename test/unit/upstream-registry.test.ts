// Destination factories: every kind is registered and bad blocks are refused with key paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDestination, destinationFactories } from '../../gateway/upstream/registry.js';
import { DESTINATION_TYPES } from '../../gateway/upstream/options.js';
import { testDeps } from '../helpers/index.js';

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
