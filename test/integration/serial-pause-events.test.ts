// A serial link paused by backpressure (maxInFlight frames not committed) is an event on the
// status page (/api/events), as a link closing or an exporter failing is: one when reading
// pauses, one when it resumes, at most one pause a minute per link (a link pausing and resuming
// all the time would flush alerts out of the ring), the next one counting those not told.
// Before, a pause added nothing to /api/events. A real link on a socat pty pair, the real Activity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Activity } from '../../gateway/runtime/activity.js';
import { waitUntil } from '../helpers/index.js';
import { socatSkip, uncommittedLink } from '../helpers/socat.js';

test('a serial link pausing by backpressure adds a paused and a resumed event to /api/events, at most one pause a minute per link', {
  skip: socatSkip,
  timeout: 60_000,
}, async (t) => {
  const { pending, link, dev } = await uncommittedLink(t, 2);

  // The minute of the rate limit on a clock the test steps (monotonic, injected).
  let skew = 0;
  const activity = new Activity(new Registry(), { monotonic: () => performance.now() + skew });
  activity.watchLinks(() => [link.status()]);
  activity.start();
  t.after(() => activity.stop());
  const messages = (): string[] => activity.recent().map((e) => e.message);
  const pauses = (): string[] => messages().filter((m) => m.startsWith('serial link slow paused reading'));
  const resumes = (): string[] => messages().filter((m) => m.startsWith('serial link slow resumed reading'));

  // 1. Two frames not committed: reading pauses; the event says why.
  await dev.write('{"n":1}\n{"n":2}\n');
  await waitUntil(() => link.status().paused, 'reading paused');
  await waitUntil(() => pauses().length === 1, 'a pause event', 5000);
  assert.match(pauses()[0] ?? '', /backpressure, 2 frames \(maxInFlight\) handed on and not committed yet/);
  assert.equal(activity.recent()[0]?.kind, 'link');
  for (const r of pending.splice(0)) r();
  await waitUntil(() => resumes().length === 1, 'a resume event', 5000);

  // 2. Pausing again within the minute: counted, not told.
  await dev.write('{"n":3}\n{"n":4}\n');
  await waitUntil(() => link.status().paused, 'paused again');
  for (const r of pending.splice(0)) r();
  await waitUntil(() => !link.status().paused, 'resumed again');
  // Two checks (one a second) past the pause: nothing more was told.
  const before = messages().length;
  await new Promise((r) => setTimeout(r, 2200));
  assert.equal(messages().length, before, messages().join('\n'));
  assert.equal(pauses().length, 1);

  // 3. A minute later, the next pause is told with the one held back.
  skew += 61_000;
  await dev.write('{"n":5}\n{"n":6}\n');
  await waitUntil(() => pauses().length === 2, 'the next pause a minute later', 5000);
  assert.match(pauses()[0] ?? '', /\(1 more pauses since the last such event/);
  for (const r of pending.splice(0)) r();
  await waitUntil(() => resumes().length === 2, 'its resume', 5000);
});
