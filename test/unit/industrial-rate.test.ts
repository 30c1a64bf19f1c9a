// The values/s of an industrial source's status (`valuesPerSecond` of a Modbus device, an OPC UA
// source's `values/s` in `gatehouse sources`): a steady rate reads as that rate. The meter summed
// ten one-second buckets and divided by ten, the current (partial) second included, so a PLC
// polled at a steady 4,000 values/s showed 3,600 to 4,000 (3,640 in a trial), and a source started
// two seconds ago a fifth of its rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateMeter } from '../../gateway/pipeline/sources/industrial-metrics.js';

test('a steady 4,000 values/s reads as 4,000 values/s at any moment, also in the first seconds', () => {
  let now = 1_000_000_250; // monotonic ms, not on a second's boundary
  const meter = new RateMeter(() => now);
  const worst = { early: 0, later: 0 };
  // 400 values every 100 ms (a group of 400 tags polled at 10 Hz), read every 37 ms for 30 s.
  let nextPoll = now;
  const end = now + 30_000;
  while (now < end) {
    if (now >= nextPoll) {
      meter.add(400);
      nextPoll += 100;
    }
    now += 37;
    const elapsed = now - 1_000_000_250;
    if (elapsed < 1500) continue; // a second and a half in: a rate is about formed
    const error = Math.abs(meter.perSecond() - 4000) / 4000;
    if (elapsed < 10_000) worst.early = Math.max(worst.early, error);
    else worst.later = Math.max(worst.later, error);
  }
  assert.ok(worst.later < 0.02, `steady state off by ${(worst.later * 100).toFixed(1)} % (at most 2 %)`);
  assert.ok(worst.early < 0.1, `first seconds off by ${(worst.early * 100).toFixed(1)} % (at most 10 %)`);
});

test('a source that stopped reading falls to 0 within the window; one value in its first millisecond is not a rate of 1,000/s', () => {
  let now = 5_000;
  const meter = new RateMeter(() => now);
  meter.add(1);
  now += 1;
  assert.ok(meter.perSecond() <= 1, `${meter.perSecond()}`);
  for (let i = 0; i < 100; i++) {
    meter.add(10);
    now += 100;
  }
  now += 10_001;
  assert.equal(meter.perSecond(), 0);
});
