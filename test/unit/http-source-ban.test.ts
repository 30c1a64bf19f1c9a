// An http source's 429 says how long the ban has left (Retry-After): bans double with each further
// one, up to an hour, and a fixed 60 s had a banned device come back (and fail again) too early.
// The clock is a stepped monotonic one (no real wait for a 60 s ban).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { HttpAuth } from '../../gateway/pipeline/sources/http/auth.js';
import { httpSourceSchema } from '../../gateway/pipeline/sources/http/options.js';

const TOKEN = 'k'.repeat(32);

test("an http source's 429 has the ban's time left as Retry-After, the second ban's twice the first", async () => {
  let now = 1_000_000;
  const options = httpSourceSchema.parse({
    type: 'http',
    name: 'devices',
    port: 8080,
    auth: { tokens: [{ name: 'fleet', sha256: createHash('sha256').update(TOKEN).digest('hex') }], maxFailures: 2 },
  });
  const auth = HttpAuth.create(options, () => now);
  const fail = async () => assert.equal((await auth.check('Bearer wrong-token-0000000000000', '10.0.0.7')).ok, false);
  await fail();
  await fail();
  const first = await auth.check(`Bearer ${TOKEN}`, '10.0.0.7');
  assert.equal(first.ok, false);
  assert.equal(first.ok === false && first.status, 429);
  assert.equal(first.ok === false && first.retryAfterSeconds, 60);
  now += 30_500;
  const later = await auth.check(`Bearer ${TOKEN}`, '10.0.0.7');
  assert.equal(later.ok === false && later.retryAfterSeconds, 30, 'what is left, rounded up');
  now += 30_000; // the first ban over; failing again at once (a success would start the count afresh)
  await fail();
  await fail();
  const second = await auth.check(`Bearer ${TOKEN}`, '10.0.0.7');
  assert.equal(second.ok === false && second.retryAfterSeconds, 120, 'the second ban is twice as long');
  assert.equal((await auth.check(`Bearer ${TOKEN}`, '10.0.0.8')).ok, true, 'another address is not banned');
});
