// The MQTT source's PUBACK pipeline (gateway/pipeline/sources/mqtt/acks.ts): acks in arrival
// order once committed, a refusal stops the later acks of its connection, a new connection never
// acknowledges the old one's messages, and reading waits while the window is full. Commits are
// promises settled by the test (the store is not the subject here: the integration and kill -9
// tests run it with the real store and mosquitto).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPipeline } from '../../gateway/pipeline/sources/mqtt/acks.js';

function commit(): { promise: Promise<void>; ok: () => void; fail: (e: Error) => void } {
  let ok!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    ok = res;
    fail = rej;
  });
  return { promise, ok, fail };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
/** A refusal or failure no test here expects. */
const unexpected = (err: unknown): never => assert.fail(`unexpected: ${String(err)}`);

test('PUBACKs go in arrival order, each once its commit and every earlier one resolved', async () => {
  const acks = new AckPipeline(10);
  const sent: number[] = [];
  const c = [commit(), commit(), commit()];
  c.forEach((x, i) =>
    acks.acknowledged(
      x.promise,
      () => sent.push(i),
      unexpected,
      () => undefined,
    ),
  );
  c[2]!.ok();
  c[1]!.ok();
  await settle();
  assert.deepEqual(sent, [], 'nothing before the first commit');
  c[0]!.ok();
  await settle();
  assert.deepEqual(sent, [0, 1, 2]);
  assert.equal(acks.pending, 0);
});

test('a refused commit is reported once and stops every later ack of that connection', async () => {
  const acks = new AckPipeline(10);
  const sent: number[] = [];
  const refused: string[] = [];
  const c = [commit(), commit(), commit()];
  c.forEach((x, i) =>
    acks.acknowledged(
      x.promise,
      () => sent.push(i),
      (e) => refused.push((e as Error).message),
      () => undefined,
    ),
  );
  c[0]!.ok();
  c[1]!.fail(new Error('full'));
  c[2]!.ok();
  await settle();
  assert.deepEqual(sent, [0]);
  assert.deepEqual(refused, ['full']);
  // The next connection acknowledges again.
  acks.reset();
  const d = commit();
  acks.acknowledged(
    d.promise,
    () => sent.push(3),
    unexpected,
    () => undefined,
  );
  d.ok();
  await settle();
  assert.deepEqual(sent, [0, 3]);
});

test('after reset (a new connection) the old connection’s pending acks are never sent', async () => {
  const acks = new AckPipeline(10);
  const sent: number[] = [];
  const c = commit();
  acks.acknowledged(
    c.promise,
    () => sent.push(0),
    unexpected,
    () => undefined,
  );
  acks.reset();
  c.ok();
  await settle();
  assert.deepEqual(sent, []);
});

test('reading waits while the window is full, and goes on as commits settle', async () => {
  const acks = new AckPipeline(2);
  let read = 0;
  const c = [commit(), commit(), commit(), commit()];
  for (const x of c)
    acks.acknowledged(
      x.promise,
      () => undefined,
      unexpected,
      () => read++,
    );
  assert.equal(read, 2, 'two in flight, the third waits');
  c[0]!.ok();
  await settle();
  assert.equal(read, 3);
  c[1]!.ok();
  c[2]!.ok();
  c[3]!.ok();
  await settle();
  assert.equal(read, 4);
  assert.equal(acks.pending, 0);
  // QoS 0 counts against the same window; nothing durable (undefined) passes at once.
  let done = 0;
  const q = commit();
  acks.unacknowledged(
    q.promise,
    () => done++,
    unexpected,
    () => read++,
  );
  acks.unacknowledged(
    undefined,
    () => done++,
    unexpected,
    () => read++,
  );
  assert.equal(read, 6);
  q.ok();
  await settle();
  assert.equal(done, 2);
});
