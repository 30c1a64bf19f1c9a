// gateway/shadow/service.ts against a store whose writes the test holds or fails: requests past
// shadows.maxInFlight rejected (429) while writes are pending, a failed write answered 500 and
// not acknowledged (the promise rejects) with nothing changed in memory, requests of one shadow
// in order, and a deleted shadow's version kept 48 hours (then a new document starts again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetaValue } from '../../core/message.js';
import { metaEntries } from '../../core/message.js';
import { ShadowService, type ShadowStore } from '../../gateway/shadow/service.js';
import { shadowOptionsSchema } from '../../gateway/shadow/options.js';

/** A store in memory whose commits wait for release() (held) or fail (failing). */
function heldStore() {
  const data = new Map<string, Buffer>();
  const pending: Array<() => void> = [];
  let failing = false;
  const store: ShadowStore = {
    commitMeta(key: string, value: MetaValue) {
      if (failing) return Promise.reject(new Error('disk full'));
      return new Promise<void>((resolve) => {
        pending.push(() => {
          for (const [name, v] of metaEntries(value)) {
            if (v === null) data.delete(key + name);
            else data.set(key + name, v);
          }
          resolve();
        });
      });
    },
    async metaKeys(prefix: string) {
      return [...data.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async getMeta(key: string) {
      return data.get(key);
    },
  };
  return {
    store,
    data,
    release: () => {
      for (const p of pending.splice(0)) p();
    },
    get pending() {
      return pending.length;
    },
    fail: (v: boolean) => {
      failing = v;
    },
  };
}

async function service(store: ShadowStore, now: () => number, options: object = {}) {
  const published: Array<[string, Record<string, unknown>]> = [];
  const rejected: number[] = [];
  const s = await ShadowService.load({
    store,
    publish: async (topic, payload) => {
      published.push([topic, JSON.parse(payload.toString()) as Record<string, unknown>]);
    },
    counters: { answered: () => undefined, rejected: (code) => rejected.push(code) },
    rateLog: () => undefined,
    options: shadowOptionsSchema.parse(options),
    now,
  });
  return { s, published, rejected };
}

const update = (v: object): Buffer => Buffer.from(JSON.stringify(v));

test('past maxInFlight while writes are pending: 429; the held ones are answered once written, in order per shadow', async () => {
  const h = heldStore();
  const { s, published, rejected } = await service(h.store, Date.now, { maxInFlight: 2 });
  const a = s.request('update', 'a', undefined, update({ state: { reported: { n: 1 } } }), 'mqtt');
  const b = s.request('update', 'a', undefined, update({ state: { reported: { n: 2 } } }), 'mqtt');
  const c = await s.request('update', 'b', undefined, update({ state: { reported: { n: 3 } } }), 'mqtt');
  assert.deepEqual(c.ok ? 'accepted' : c.rejection.code, 429);
  assert.deepEqual(rejected, [429]);
  assert.deepEqual(published, [['$aws/things/b/shadow/update/rejected', { code: 429, message: 'Too Many Requests', timestamp: published[0]![1].timestamp }]]);
  // nothing answered before the write
  assert.equal(published.filter(([tp]) => tp.endsWith('/accepted')).length, 0);
  while (h.pending === 0) await new Promise((r) => setImmediate(r));
  h.release();
  while (h.pending === 0) await new Promise((r) => setImmediate(r));
  h.release();
  const [ra, rb] = await Promise.all([a, b]);
  assert.ok(ra.ok && rb.ok);
  const versions = published.filter(([tp]) => tp === '$aws/things/a/shadow/update/accepted').map(([, m]) => m.version);
  assert.deepEqual(versions, [1, 2], 'one after the other');
  assert.deepEqual(JSON.parse(h.data.get('shadow/a/')!.toString()).state, { reported: { n: 2 } });
});

test('a failed write: rejected 500 on the topic, the request promise rejects (no PUBACK), nothing changed', async () => {
  const h = heldStore();
  const { s, published } = await service(h.store, Date.now);
  h.fail(true);
  await assert.rejects(s.request('update', 'a', undefined, update({ state: { reported: { n: 1 } }, clientToken: 'x' }), 'mqtt'), /disk full/);
  assert.deepEqual(
    published.map(([tp, m]) => [tp, m.code, m.message, m.clientToken]),
    [['$aws/things/a/shadow/update/rejected', 500, 'Internal service failure', 'x']],
  );
  assert.equal(s.lookup('a', undefined), undefined);
  assert.equal(s.count, 0);
});

test("a deleted shadow's version continues within 48 hours, then starts again; an expired tombstone is removed at load", async () => {
  const h = heldStore();
  let now = Date.parse('2026-01-01T00:00:00Z');
  const { s } = await service(h.store, () => now);
  const go = async (p: Promise<unknown>): Promise<void> => {
    while (h.pending === 0) await new Promise((r) => setImmediate(r));
    h.release();
    await p;
  };
  for (let i = 0; i < 3; i++) await go(s.request('update', 't', 'n', update({ state: { desired: { i } } }), 'admin'));
  await go(s.request('delete', 't', 'n', Buffer.alloc(0), 'admin'));
  now += 47 * 3600_000;
  const again = s.request('update', 't', 'n', update({ state: { desired: { i: 9 } } }), 'admin');
  await go(again);
  assert.equal(((await again) as { answer: { version: number } }).answer.version, 4);
  await go(s.request('delete', 't', 'n', Buffer.alloc(0), 'admin'));
  now += 49 * 3600_000;
  // a restart after 49 hours: the tombstone goes; a new document starts at version 1
  const loading = service(h.store, () => now);
  while (h.pending === 0) await new Promise((r) => setImmediate(r));
  h.release();
  const { s: s2 } = await loading;
  assert.equal(h.data.has('shadow/t/n'), false, 'the expired tombstone was removed');
  const fresh = s2.request('update', 't', 'n', update({ state: { desired: { i: 1 } } }), 'admin');
  await go(fresh);
  assert.equal(((await fresh) as { answer: { version: number } }).answer.version, 1);
});
