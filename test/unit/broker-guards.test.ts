// The broker's flood guards alone: pre-CONNECT shedding order and the auth backoff policy
// (ban after N failures, doubling, user-name bans sparing known-good addresses, the check cap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { PreConnectGuard } from '../../gateway/broker/preconnect.js';
import { AuthGuard } from '../../gateway/broker/auth-guard.js';
import { withTimeout } from '../helpers/index.js';

test('pre-CONNECT guard sheds the oldest pending sockets per address, then overall; CONNECTed ones leave', () => {
  const shed: Array<[Socket, string]> = [];
  const g = new PreConnectGuard({ maxPending: 4, maxPendingPerAddress: 2 }, (s, reason) => shed.push([s, reason]));
  // Unconnected sockets stand in for accepted ones: the guard only tracks and destroys them.
  const a = [new Socket(), new Socket(), new Socket()];
  const b = [new Socket(), new Socket(), new Socket()];
  for (const s of a) g.admit(s, '10.0.0.1');
  g.release(a[1]!); // a[1] sent CONNECT
  for (const s of b) g.admit(s, '10.0.0.2');
  g.enforce();
  assert.deepEqual(
    shed.map(([s, r]) => [a.includes(s) ? `a${a.indexOf(s)}` : `b${b.indexOf(s)}`, r]),
    [['b0', 'address']],
  );
  g.admit(new Socket(), '10.0.0.3');
  g.enforce();
  assert.deepEqual(
    shed.slice(1).map(([s, r]) => [a.includes(s) ? `a${a.indexOf(s)}` : `b${b.indexOf(s)}`, r]),
    [['a0', 'total']],
    'the oldest pending overall',
  );
  assert.equal(g.size, 4);
  g.stop();
});

test('pre-CONNECT guard: a socket admitted with a deadline is closed when still pending; a released one is not', async () => {
  const g = new PreConnectGuard({ maxPending: 10, maxPendingPerAddress: 10 }, () => undefined);
  const expired: Socket[] = [];
  let fired: () => void = () => undefined;
  const firedP = new Promise<void>((r) => (fired = r));
  const deadline = {
    ms: 20,
    onExpire: (s: Socket) => {
      expired.push(s);
      fired();
    },
  };
  const silent = new Socket();
  const prompt = new Socket();
  g.admit(prompt, '10.0.0.1', deadline);
  g.admit(silent, '10.0.0.1', deadline);
  g.release(prompt); // sent CONNECT in time
  // (the guard's timers do not hold the process open: withTimeout's does, and bounds the wait)
  await withTimeout(firedP, 2000, 'the deadline fired');
  assert.deepEqual(expired, [silent]);
  assert.equal(silent.destroyed, true);
  assert.equal(prompt.destroyed, false);
  assert.equal(g.size, 0);
  g.stop();
});

test('auth guard: bans after maxFailures, doubling; user bans spare known-good addresses', async () => {
  let now = 0;
  const g = new AuthGuard({ maxFailures: 3, windowMs: 60_000, banMs: 1000, maxBanMs: 3000, maxConcurrentChecks: 1, maxQueuedChecks: 1 }, () => now);
  g.succeeded('10.0.0.9', 'dev'); // the device's usual address
  assert.deepEqual(g.failed('1.1.1.1', 'dev'), []);
  assert.deepEqual(g.failed('1.1.1.1', 'dev'), []);
  assert.deepEqual(g.failed('1.1.1.1', 'dev'), ['address', 'user']);
  assert.equal(g.banned('1.1.1.1', 'other'), 'address');
  assert.equal(g.banned('2.2.2.2', 'dev'), 'user');
  assert.equal(g.banned('10.0.0.9', 'dev'), undefined, 'the device itself still gets in');
  now += 1001;
  assert.equal(g.banned('1.1.1.1', 'x'), undefined, 'first ban: banMs');
  for (let i = 0; i < 3; i++) g.failed('1.1.1.1', undefined);
  now += 1500;
  assert.equal(g.banned('1.1.1.1', undefined), 'address', 'second ban doubles');
  now += 600;
  assert.equal(g.banned('1.1.1.1', undefined), undefined);

  const r1 = await g.acquire();
  assert.ok(r1);
  const waiting = g.acquire();
  assert.equal(await g.acquire(), undefined, 'beyond maxQueuedChecks: refused');
  r1();
  const r2 = await waiting;
  assert.ok(r2, 'the waiter gets the slot');
  r2();
});

test('auth guard: a long user name is banned like a short one, and remembered by its hash, not its bytes', () => {
  const now = 0;
  const g = new AuthGuard({ maxFailures: 2, windowMs: 60_000, banMs: 1000, maxBanMs: 3000, maxConcurrentChecks: 1, maxQueuedChecks: 1 }, () => now);
  const long = 'u'.repeat(64 * 1024);
  g.failed(undefined, long);
  assert.deepEqual(g.failed(undefined, long), ['user']);
  assert.equal(g.banned('2.2.2.2', long), 'user');
  assert.equal(g.banned('2.2.2.2', `${long}x`), undefined, 'another long name is another user');
  // what the guard keeps of it: no copy of the 64 KB name (MAX_TRACKED of them were 640 MB)
  const records = (g as unknown as { records: Map<string, unknown> }).records;
  assert.ok(
    [...records.keys()].every((k) => k.length < 100),
    'keys are short',
  );
});
