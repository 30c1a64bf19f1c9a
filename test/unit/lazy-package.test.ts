// core/lazy-package.ts: a package loaded on first use is loaded once, and a missing one is a clear
// GH_PACKAGE_MISSING naming the feature that needed it (not a bare "Cannot find module").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyPackage } from '../../core/lazy-package.js';
import { isGatehouseError } from '../../core/errors.js';

test('a lazily loaded package loads on the first call and is the same object afterwards', () => {
  const yaml = lazyPackage<typeof import('yaml')>('yaml', 'reading YAML');
  const first = yaml();
  assert.equal(first.parse('a: 1').a, 1);
  assert.equal(yaml(), first);
});

test('a missing package is GH_PACKAGE_MISSING naming the feature and how to fix it', () => {
  const missing = lazyPackage<unknown>('gatehouse-no-such-package', 'the frobnicator');
  assert.throws(missing, (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_PACKAGE_MISSING'), String(err));
    assert.match(err.message, /the frobnicator needs the package gatehouse-no-such-package/);
    assert.match(err.hint ?? '', /npm ci/);
    return true;
  });
});
