// Months of uptime in the CAD detector (rules/anomaly/context-model.ts): each context slot keeps the
// tick it was last used at, a u32 that wraps after 2^32 points of a series (10 days at 5,000/s).
// Eviction is least recently used: across the wrap that must still be the way used longest ago,
// not the one with the smallest raw tick (the way touched just after the wrap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContextModel } from '../../rules/anomaly/context-model.js';

/** The model's slot lookup (private: what update() calls for every context of a point). */
type Find = (key: number, tick: number) => number;

test('cad contexts: across the u32 tick wrap the least recently used way is evicted, not the one just used', () => {
  // 4 slots: one bucket of 4 ways, so every key lands in it.
  const m = new ContextModel(10, 1, 4, 100, 5);
  const find = (m as unknown as { find: Find }).find.bind(m);
  const top = 2 ** 32;
  for (const [key, tick] of [
    [1, top - 4],
    [3, top - 3],
    [5, top - 2],
    [7, top - 1],
  ] as const)
    find(key, tick);
  // The tick wraps: key 1 is used again at tick 0, then a new key arrives at tick 1.
  find(1, 0);
  const slot = find(9, 1);
  const held = [...m.keys].sort((a, b) => a - b);
  assert.deepEqual(held, [1, 5, 7, 9], 'key 3 (used longest ago) is evicted; key 1, used at the wrap, is kept');
  assert.equal(m.keys[slot], 9);
  // And on the next steps the order still holds: 5 then 7 go before 1 and 9.
  find(11, 2);
  find(13, 3);
  assert.deepEqual(
    [...m.keys].sort((a, b) => a - b),
    [1, 9, 11, 13],
  );
});

test('cad contexts: the tick a point takes wraps to 0 after 2^32 - 1 and the model goes on scoring', () => {
  const m = new ContextModel(10, 2, 64, 100, 5);
  for (let i = 0; i < 50; i++) m.update(i % 5);
  m.s[3] = 2 ** 32 - 2; // as after 2^32 - 2 points
  const before = [m.update(0), m.update(1)];
  assert.equal(m.s[3], 0, 'the tick wrapped');
  // The series does what it always did after this history: nothing it learnt is forgotten.
  const after = [m.update(2), m.update(3), m.update(4), m.update(0)];
  assert.deepEqual([...before, ...after], [0, 0, 0, 0, 0, 0]);
});
