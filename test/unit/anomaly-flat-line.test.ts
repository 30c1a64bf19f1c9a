// docs/anomaly.md, "A flat line, then any change": after 1,000 points that never moved, every
// detector at its defaults takes a float32 register's last-bit flicker for an anomaly (at or above
// its alarm level), as it does a real step; rounded before the detector, the flicker is an ordinary point.
// A choice written down (the floors keep scores finite, they do not ignore small moves): this pins
// what the page says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTO_THRESHOLD, createDetector } from '../../rules/anomaly/index.js';

const ALARM: Record<string, number> = { auto: AUTO_THRESHOLD, zscore: 4, ewma: 4, rcf: 3, cad: 0.8 };

function scoreAt1000(name: string, at1000: number, round = false): number {
  const det = createDetector(name);
  let score = 0;
  for (let i = 0; i <= 1000; i++) {
    const x = i === 1000 ? at1000 : 20;
    score = det.update(round ? Math.round(x * 100) * 0.01 : x);
  }
  return score;
}

test('after a flat line, a last-bit flicker (20 -> 20.000002) alarms every detector, as a step to 20.1 does; rounded to 0.01 it is an ordinary point', () => {
  for (const [name, alarm] of Object.entries(ALARM)) {
    const flicker = scoreAt1000(name, 20.000002);
    const step = scoreAt1000(name, 20.1);
    assert.ok(flicker >= alarm, `${name}: flicker ${flicker} (alarm ${alarm})`);
    assert.ok(step >= alarm, `${name}: step ${step}`);
    const rounded = scoreAt1000(name, 20.000002, true);
    assert.ok(rounded < Math.min(alarm, 1), `${name}: the flicker rounded away scores ${rounded}`);
  }
  // The figures the page gives.
  assert.equal(Math.round(scoreAt1000('zscore', 20.000002)), 95);
  assert.equal(Math.round(scoreAt1000('auto', 20.000002) * 10) / 10, 5.3);
});
