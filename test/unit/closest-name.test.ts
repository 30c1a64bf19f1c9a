// core/closest-name.ts: the nearest known name within 2 edits, case aside, the first of the
// nearest; the same answers as the plain Levenshtein table (written out here) on random words, and
// fast enough for a refused command against a node's thousands of metric names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestName, editDistance } from '../../core/closest-name.js';

/** The textbook table, for reference. */
function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

function reference(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = levenshtein(name.toLowerCase(), n.toLowerCase());
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

test('closestName: typos found, case aside, the first of the nearest; nothing beyond 2 edits', () => {
  assert.equal(closestName('maxconections', ['maxConnections', 'maxInflight']), 'maxConnections');
  assert.equal(closestName('devcie', ['id', 'group', 'node', 'device', 'metrics', 'metric', 'value']), 'device');
  assert.equal(closestName('SetPoint', ['Setpoint', 'SetPoints']), 'Setpoint');
  assert.equal(closestName('ab', ['xy', 'ay', 'ab1']), 'ay');
  assert.equal(closestName('pressure', ['Setpoint', 'Total']), undefined);
  assert.equal(closestName('', []), undefined);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

test('closestName: the same answer as the plain table on 20,000 random cases', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (): string => Array.from({ length: rand(7) }, () => 'abcAB'[rand(5)]).join('');
  for (let k = 0; k < 20_000; k++) {
    const names = Array.from({ length: rand(6) }, word);
    const name = word();
    assert.equal(closestName(name, names), reference(name, names), `${name} in ${JSON.stringify(names)}`);
    const [a, b] = [word(), word()];
    assert.equal(editDistance(a, b), levenshtein(a, b));
  }
});

test('closestName: 1,000 metric names searched in well under a millisecond', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `m${i}`);
  closestName('nope', names);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) assert.equal(closestName('nope', names), undefined);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / 100;
  // 143 us on the test VM (it was 2,163 us, allocating two arrays per name): a bound with room for a loaded CI machine.
  assert.ok(us < 1500, `${us} us per search`);
});
