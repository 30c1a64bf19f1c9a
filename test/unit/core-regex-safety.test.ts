// Patterns that could stall the event loop on a crafted input (core/regex-safety.ts): those V8's
// linear-time fallback cannot finish (back-references, lookarounds, counted repetition, i/u flags)
// and that repeat a group which repeats or branches inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backtrackingRisk, nestedRepetition } from '../../core/regex-safety.js';

test('regex safety: the first repeated group that holds a repetition or an alternative', () => {
  const cases: Array<[string, string | undefined]> = [
    ['(a+)+$', '(a+)+'],
    ['(a|ab)*c', '(a|ab)*'],
    ['((a+)b){2,}', '((a+)b){2,}'],
    ['(\\w{1,20}\\s?)+$', '(\\w{1,20}\\s?)+'],
    ['(?:x*y)+', '(?:x*y)+'],
    ['(?<name>a+)+', '(?<name>a+)+'],
    // not repeated, repeated a fixed number of times, optional, or nothing repeated inside
    ['(a+)b', undefined],
    ['^(\\d{1,3}\\.){3}\\d{1,3}$', undefined],
    ['(a+)?', undefined],
    ['(ab)+', undefined],
    ['a+b*c{2,}', undefined],
    // quantifier characters inside classes, escapes and group prefixes are not quantifiers
    ['([+*])+', undefined],
    ['(\\+\\*)+', undefined],
    ['(?=a)(?!b)(?<=c)(?<!d)x', undefined],
    ['(\\(a+\\))', undefined],
  ];
  for (const [pattern, group] of cases) assert.equal(nestedRepetition(pattern), group, pattern);
});

test('regex safety: a risk only where the linear-time engine cannot run the pattern', () => {
  // V8's linear engine runs these, so its fallback bounds any match of them
  for (const p of ['(a+)+$', '(a|a)*$', '(\\w+\\s?)*$', '^\\d{4}-\\d{2}']) assert.equal(backtrackingRisk(p), undefined, p);
  // it cannot run these, and they repeat a group that repeats: refused, saying why
  for (const [p, flags] of [
    ['(a+)+\\1$', ''],
    ['(?=a)(a+)+$', ''],
    ['(\\w{1,20}\\s?)+$', ''],
    ['(a+)+$', 'i'],
  ] as const) {
    assert.match(backtrackingRisk(p, flags) ?? '', /may backtrack exponentially.*back-reference, a lookaround, a counted repetition/, `${p} /${flags}`);
  }
  // it cannot run them, but nothing repeated repeats: polynomial at worst, accepted
  for (const p of ['(a)\\1', 'x(?=y)', '\\d{1,3}']) assert.equal(backtrackingRisk(p), undefined, p);
  // not a pattern at all: the caller's compile says why
  assert.equal(backtrackingRisk('(['), undefined);
});
