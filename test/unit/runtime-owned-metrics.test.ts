// The registry handle a gateway declares its metrics through (gateway/runtime/owned-metrics.ts):
// release() takes off what was registered through it, and only that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { counter, gauge } from '../../core/metrics.js';
import { ownedMetrics } from '../../gateway/runtime/owned-metrics.js';

test('release takes off what was registered through the handle, not what was there before or beside it', () => {
  const registry = new Registry();
  counter(registry, 'before_total', 'on the registry before');
  const owned = ownedMetrics(registry);
  gauge(owned.registry, 'ours', 'read at scrape time', [], {
    collect() {
      this.set(1);
    },
  });
  counter(owned.registry, 'before_total', 'declared again through the handle: the one that was there');
  counter(registry, 'beside_total', 'declared beside, on the registry itself');
  owned.release();
  assert.deepEqual(
    registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name),
    ['before_total', 'beside_total'],
  );
  // Declared again (the next gateway on this registry): one owner again, no "declared twice".
  gauge(registry, 'ours', 'read at scrape time', [], { collect() {} });
});

test('release leaves a name the registry now holds with another metric (removed, then declared by someone else)', () => {
  const registry = new Registry();
  const owned = ownedMetrics(registry);
  counter(owned.registry, 'shared_total', 'ours first');
  registry.removeSingleMetric('shared_total');
  const theirs = counter(registry, 'shared_total', 'theirs now');
  owned.release();
  assert.equal(registry.getSingleMetric('shared_total'), theirs);
});
