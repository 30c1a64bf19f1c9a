// core/metrics.ts: declaring a metric is idempotent per registry, disagreements and second
// owners of a scrape-time metric are refused with GH_INTERNAL, registries stay independent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { isGatehouseError } from '../../core/errors.js';
import { counter, gauge, histogram } from '../../core/metrics.js';

test('a second declaration on the same registry returns the first metric', async () => {
  const registry = new Registry();
  const a = counter(registry, 'x_total', 'help', ['link']);
  const b = counter(registry, 'x_total', 'help', ['link']);
  assert.equal(a, b);
  a.inc({ link: 'l1' });
  b.inc({ link: 'l1' }, 2);
  const data = await registry.getSingleMetric('x_total')!.get();
  assert.equal(data.values[0]!.value, 3);
});

test('registries are independent', () => {
  const one = gauge(new Registry(), 'g', 'help');
  const two = gauge(new Registry(), 'g', 'help');
  assert.notEqual(one, two);
});

test('another type or other label names is refused with GH_INTERNAL naming the metric', () => {
  const registry = new Registry();
  counter(registry, 'm', 'help', ['a']);
  assert.throws(
    () => gauge(registry, 'm', 'help', ['a']),
    (err) => isGatehouseError(err, 'GH_INTERNAL') && /metric m .*another type/.test(err.message),
  );
  assert.throws(
    () => counter(registry, 'm', 'help', ['a', 'b']),
    (err) => isGatehouseError(err, 'GH_INTERNAL') && /labels \[a\] then \[a,b\]/.test(err.message),
  );
});

test('a scrape-time metric has one owner; histogram buckets are honoured', async () => {
  const registry = new Registry();
  let n = 0;
  gauge(registry, 'live', 'help', [], {
    collect() {
      this.set(++n);
    },
  });
  assert.match(await registry.metrics(), /live 1/);
  assert.throws(
    () => gauge(registry, 'live', 'help', [], { collect() {} }),
    (err) => isGatehouseError(err, 'GH_INTERNAL') && /one owner/.test(err.message),
  );
  const h = histogram(registry, 'h_seconds', 'help', [], { buckets: [1, 2] });
  h.observe(1.5);
  assert.match(await registry.metrics(), /h_seconds_bucket\{le="2"\} 1/);
});
