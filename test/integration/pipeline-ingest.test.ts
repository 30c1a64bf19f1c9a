// The one intake (gateway/pipeline/ingest.ts) on a real LevelDB store and the real rules engine
// with the real `stream` action: the commit promise, commitMeta's FIFO place in the group commit
// (a meta written after N appends is never on disk without them), backpressure from a full
// 'reject' stream, drain at shutdown, and per-source meta namespaces.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { openLocalStreams } from '../../gateway/store/index.js';
import type { LocalStreams } from '../../gateway/store/types.js';
import { compileRuleSet, createRuleEngine } from '../../rules/index.js';
import { streamAction } from '../../gateway/pipeline/actions/index.js';
import { Ingest, sourceMetaKey } from '../../gateway/pipeline/ingest.js';
import type { Message } from '../../core/message.js';
import { isGatehouseError } from '../../core/errors.js';
import { tempDir, testDeps } from '../helpers/index.js';

async function openStore(t: TestContext, path: string, extra: Record<string, unknown> = {}): Promise<LocalStreams> {
  const store = await openLocalStreams({ path, ...extra }, testDeps());
  t.after(() => store.close());
  return store;
}

/**
 * A real rules engine: every message on `data/#` appended to stream `s`. `order` records when the
 * store resolves each append and each meta put (the store's own promises: the engine adds promise
 * hops above them, so the order seen through submit() says less about the disk).
 */
function ingestFor(store: LocalStreams, order: string[] = []): Ingest {
  const appender = {
    append: (stream: string, rec: Parameters<LocalStreams['append']>[1]) =>
      store.append(stream, rec).then((seq) => {
        order.push(`append ${rec.topic}`);
        return seq;
      }),
  };
  const metaStore = {
    getMeta: (k: string) => store.getMeta(k),
    commitMeta: (k: string, v: Buffer) => store.commitMeta(k, v).then(() => void order.push(`meta ${k}`)),
  };
  const set = compileRuleSet(
    { version: 1, rules: [{ name: 'keep', sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: 's' } }] }] },
    new Map([['stream', streamAction(appender)]]),
  );
  const engine = createRuleEngine(set, testDeps());
  return new Ingest(engine, metaStore);
}

function msg(topic: string, payload: string): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, source: { kind: 'internal', id: 'test' }, receivedAt: Date.now() };
}

test('submit returns the commit promise (undefined when no durable action), and commitMeta lands after the appends before it', async (t) => {
  const path = await tempDir(t);
  const store = await openStore(t, path);
  await store.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  const order: string[] = [];
  const ingest = ingestFor(store, order);
  const intake = ingest.intakeFor('tail-1');

  assert.equal(ingest.submit(msg('other/x', 'ignored')), undefined, 'no rule matched: nothing to wait for');
  const appends: Array<Promise<void>> = [];
  for (let i = 0; i < 50; i++) {
    const p = intake.submit(msg(`data/${i}`, `{"i":${i}}`));
    assert.ok(p, 'a matching message returns a commit promise');
    appends.push(p);
  }
  assert.equal(ingest.inFlight, 50);
  const meta = intake.commitMeta('offset', Buffer.from('50'));
  await Promise.all([...appends, meta]);
  assert.equal(order.at(-1), 'meta src/tail-1/offset', 'the store resolves the meta after every append submitted before it');
  assert.equal(order.length, 51);
  assert.equal(ingest.inFlight, 0);
  assert.equal((await intake.readMeta('offset'))?.toString(), '50');
  assert.equal((await store.getMeta(sourceMetaKey('tail-1', 'offset')))?.toString(), '50', 'keys are namespaced src/<source>/<key>');
  assert.equal(await ingest.intakeFor('tail-2').readMeta('offset'), undefined, 'another source does not see it');

  // After a restart both are on disk together.
  await store.close();
  const again = await openStore(t, path);
  await again.defineStream({ name: 's', maxBytes: 1 << 20, onFull: 'reject' });
  assert.equal(again.info('s').lastSeq, 50);
  assert.equal((await again.read('s', 1, { limit: 100 })).length, 50);
  assert.equal((await again.getMeta('src/tail-1/offset'))?.toString(), '50');
});

test('a meta put waits behind an append held back by a full reject stream (never on disk without it)', async (t) => {
  const store = await openStore(t, await tempDir(t), { appendTimeoutMs: 60_000 });
  await store.defineStream({ name: 's', maxBytes: 64, onFull: 'reject' });
  await store.defineStream({ name: 'other', maxBytes: 1 << 20, onFull: 'reject' });
  await store.addConsumer('s', 'exporter');
  const order: string[] = [];
  const ingest = ingestFor(store, order);
  const intake = ingest.intakeFor('src');

  await intake.submit(msg('data/a', 'x'.repeat(40)));
  order.length = 0;
  const held = intake.submit(msg('data/b', 'y'.repeat(40)))!;
  const meta = intake.commitMeta('pos', Buffer.from('2'));
  // Another stream's append commits meanwhile: the group commit runs, the meta does not join it.
  await store.append('other', { topic: 't', payload: Buffer.from('z'), receivedAt: Date.now() });
  await store.append('other', { topic: 't', payload: Buffer.from('z'), receivedAt: Date.now() });
  assert.equal(await store.getMeta('src/src/pos'), undefined, 'the meta is not written while an earlier append is held back');
  assert.deepEqual(order, []);
  assert.equal(ingest.inFlight, 1, 'the held append is in flight');

  // The exporter delivers record 1: space is reclaimed, the held append commits, then the meta.
  await store.setCheckpoint('s', 'exporter', 1);
  await Promise.all([held, meta]);
  assert.deepEqual(order, ['append data/b', 'meta src/src/pos']);
  assert.equal((await store.getMeta('src/src/pos'))?.toString(), '2');
  assert.equal(store.info('s').lastSeq, 2);
});

test('a meta put behind an append refused as full (GH_STREAM_FULL) is still written', async (t) => {
  const store = await openStore(t, await tempDir(t), { appendTimeoutMs: 200 });
  await store.defineStream({ name: 's', maxBytes: 64, onFull: 'reject' });
  const ingest = ingestFor(store);
  const intake = ingest.intakeFor('src');
  await intake.submit(msg('data/a', 'x'.repeat(40)));
  const refused = intake.submit(msg('data/b', 'y'.repeat(40)))!;
  const meta = intake.commitMeta('pos', Buffer.from('1'));
  await assert.rejects(refused, (err: unknown) => isGatehouseError(err, 'GH_STREAM_FULL'));
  await meta;
  assert.equal((await intake.readMeta('pos'))?.toString(), '1');
});

test('backpressure and drain: a held commit keeps drain waiting until it settles or the timeout passes', async (t) => {
  const store = await openStore(t, await tempDir(t), { appendTimeoutMs: 60_000 });
  await store.defineStream({ name: 's', maxBytes: 64, onFull: 'reject' });
  await store.addConsumer('s', 'exporter');
  const ingest = ingestFor(store);
  const intake = ingest.intakeFor('src');
  await intake.submit(msg('data/a', 'x'.repeat(40)));
  let settled = false;
  const held = intake.submit(msg('data/b', 'y'.repeat(40)))!.then(() => {
    settled = true;
  });
  assert.equal(intake.accepting(), true);
  assert.equal(await ingest.drain(50), false, 'drain reports the timeout while a commit is held back');
  assert.equal(settled, false, 'the held commit was not acknowledged');
  assert.equal(intake.accepting(), false, 'a draining intake tells sources to stop reading');
  const drained = ingest.drain(30_000);
  await store.setCheckpoint('s', 'exporter', 1);
  assert.equal(await drained, true, 'drain resolves once the held commit settled');
  await held;
  assert.equal(settled, true);
  assert.equal(ingest.inFlight, 0);
});
