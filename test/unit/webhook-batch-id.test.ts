// A webhook batch's id (Idempotency-Key) is made from what the batch holds: the same records give
// the same id (a retry, a resend after a restart), any other batch another one: other records, the
// same seqs of a stream defined again (other receive times), another gateway (installation id).
// Without an installation id the id is random and kept while the batch is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchIds } from '../../gateway/upstream/destinations/batch-id.js';

const recs = (from: number, n: number, at = 1_796_000_000_000) => Array.from({ length: n }, (_, i) => ({ stream: 'up', seq: from + i, receivedAt: at + i }));
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('the same records give the same id, in another process too; other batches other ids', async () => {
  const a = batchIds(async () => 'install-a');
  const id = await a(recs(1, 5));
  assert.match(id, UUID_V8);
  assert.equal(await a(recs(1, 5)), id, 'a retry');
  assert.equal(await batchIds(async () => 'install-a')(recs(1, 5)), id, 'a restarted gateway sending the same records');
  const others = [
    await a(recs(1, 4)),
    await a(recs(2, 5)),
    await a(recs(1, 5, 1_796_000_999_000)),
    await batchIds(async () => 'install-b')(recs(1, 5)),
    await a(recs(1, 5).map((r) => ({ ...r, stream: 'other' }))),
  ];
  assert.equal(new Set([id, ...others]).size, 6, 'fewer records, other seqs, a stream defined again, another gateway, another stream');
});

test('without an installation id (none, or it cannot be kept): a random id, kept while the same batch is retried', async () => {
  for (const ids of [batchIds(undefined), batchIds(() => Promise.reject(new Error('EROFS')))]) {
    const id = await ids(recs(1, 5));
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(await ids(recs(1, 5)), id);
    const next = await ids(recs(6, 5));
    assert.notEqual(next, id);
    assert.notEqual(await batchIds(undefined)(recs(1, 5)), id, 'another process: another id');
  }
});
