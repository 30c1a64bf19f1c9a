// gateway/runtime/service-notify.ts alone: the runs of systemd-notify it makes, with a fake spawn
// and timers driven by hand (a mock: the real binary and a stand-in for PID 1 are in
// test/integration/systemd-notify.test.ts). One run at a time, merging, the watchdog interval,
// WATCHDOG_PID, nothing without NOTIFY_SOCKET, failures warned once and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { MAX_QUEUED, RUN_TIMEOUT_MS, ServiceNotifier, pingIntervalMs, type NotifyChild, type NotifyTimers } from '../../gateway/runtime/service-notify.js';
import { metricValue } from '../helpers/index.js';

class FakeChild extends EventEmitter implements NotifyChild {
  readonly stderr = new EventEmitter();
  killed: string | undefined;
  constructor(readonly args: readonly string[]) {
    super();
  }
  kill(signal?: NodeJS.Signals): boolean {
    this.killed = signal ?? 'SIGTERM';
    return true;
  }
  /** The run ends: exit code `code` (and what it wrote to stderr). */
  end(code: number, stderr = ''): void {
    if (stderr) this.stderr.emit('data', Buffer.from(stderr));
    this.emit('close', code, null);
  }
}

class ManualTimers implements NotifyTimers {
  private seq = 0;
  readonly live = new Map<number, { ms: number; fn: () => void; repeat: boolean }>();
  every(ms: number, fn: () => void): () => void {
    const id = ++this.seq;
    this.live.set(id, { ms, fn, repeat: true });
    return () => this.live.delete(id);
  }
  after(ms: number, fn: () => void): () => void {
    const id = ++this.seq;
    this.live.set(id, { ms, fn, repeat: false });
    return () => this.live.delete(id);
  }
  /** Fire every timer of period `ms` once (one-shots are removed). */
  fire(ms: number): void {
    for (const [id, t] of [...this.live]) {
      if (t.ms !== ms) continue;
      if (!t.repeat) this.live.delete(id);
      t.fn();
    }
  }
  periods(): number[] {
    return [...this.live.values()].filter((t) => t.repeat).map((t) => t.ms);
  }
}

function rig(env: Record<string, string | undefined>, spawnFails?: Error) {
  let log = '';
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(c: Buffer, _e, done) {
        log += c.toString();
        done();
      },
    }),
  );
  const children: FakeChild[] = [];
  const spawned: Array<{ command: string; env: Record<string, string> }> = [];
  const timers = new ManualTimers();
  const registry = new Registry();
  const notifier = new ServiceNotifier({
    env,
    pid: 4242,
    log: logger,
    registry,
    timers,
    monotonicUsec: () => 123_456_789n,
    spawn: (command, args, e) => {
      spawned.push({ command, env: e });
      if (spawnFails) throw spawnFails;
      const c = new FakeChild(args);
      children.push(c);
      return c;
    },
  });
  return { notifier, children, spawned, timers, registry, log: () => log };
}

const SOCKET = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/usr/bin:/bin', HOME: '/root', AWS_SECRET_ACCESS_KEY: 'x' };

test('without NOTIFY_SOCKET nothing is run and no timer is armed', () => {
  const r = rig({ PATH: '/usr/bin', WATCHDOG_USEC: '60000000' });
  r.notifier.status('starting');
  r.notifier.waiting('waiting for disk space');
  r.notifier.ready('running');
  r.notifier.reloading('reloading');
  r.notifier.stopping('stopping');
  assert.equal(r.notifier.enabled, false);
  assert.equal(r.notifier.pingEveryMs, undefined);
  assert.equal(r.spawned.length, 0);
  assert.deepEqual(r.timers.periods(), [], 'no ping or extension timer');
});

test('one run at a time: messages wait for the run in flight; status updates merged, state changes each alone and in order', () => {
  const r = rig(SOCKET);
  r.notifier.status('starting: opening the store');
  assert.equal(r.children.length, 1);
  assert.deepEqual(r.children[0]!.args, ['STATUS=starting: opening the store']);
  // Only NOTIFY_SOCKET and PATH reach the binary (no credentials from the gateway's environment).
  assert.deepEqual(r.spawned[0], { command: 'systemd-notify', env: { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/usr/bin:/bin' } });
  r.notifier.status('still starting');
  r.notifier.status('still starting, later');
  r.notifier.ready('running: MQTT on mqtt://127.0.0.1:1883');
  r.notifier.reloading('reloading the configuration (SIGHUP)');
  r.notifier.ready('running again');
  assert.equal(r.children.length, 1, 'nothing more while the first run is in flight');
  r.children[0]!.end(0);
  // The two statuses merged (the later wins); READY, RELOADING and READY each alone, in order.
  assert.deepEqual(r.children[1]!.args, ['STATUS=still starting, later']);
  r.children[1]!.end(0);
  assert.deepEqual(r.children[2]!.args, ['READY=1', 'STATUS=running: MQTT on mqtt://127.0.0.1:1883']);
  r.children[2]!.end(0);
  assert.deepEqual(r.children[3]!.args, ['RELOADING=1', 'MONOTONIC_USEC=123456789', 'STATUS=reloading the configuration (SIGHUP)']);
  r.children[3]!.end(0);
  assert.deepEqual(r.children[4]!.args, ['READY=1', 'STATUS=running again']);
  r.children[4]!.end(0);
  assert.equal(r.children.length, 5);
});

test('after STOPPING=1 no READY=1 or RELOADING=1 (a reload that ends during the stop)', () => {
  const r = rig(SOCKET);
  r.notifier.reloading('reloading');
  r.children[0]!.end(0);
  r.notifier.stopping('stopping (SIGTERM)');
  r.notifier.ready('running');
  r.notifier.reloading('reloading');
  r.notifier.waiting('waiting');
  r.children[1]!.end(0);
  assert.deepEqual(
    r.children.map((c) => c.args[0]),
    ['RELOADING=1', 'STOPPING=1'],
  );
  assert.deepEqual(r.timers.periods(), []);
});

test('a STATUS= text is one line', () => {
  const r = rig(SOCKET);
  r.notifier.status('two\nlines');
  assert.deepEqual(r.children[0]!.args, ['STATUS=two lines']);
});

test('watchdog: a quarter of WATCHDOG_USEC, only for the process WATCHDOG_PID names, a ping rides with the next run', async () => {
  assert.equal(pingIntervalMs({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '60000000' }, 1), 15_000);
  assert.equal(pingIntervalMs({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '1' }, 1), 15_000);
  assert.equal(pingIntervalMs({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '2' }, 1), undefined, 'asked of another process');
  assert.equal(pingIntervalMs({ WATCHDOG_USEC: '60000000' }, 1), undefined, 'no socket');
  assert.equal(pingIntervalMs({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: 'soon' }, 1), undefined);
  assert.equal(pingIntervalMs({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '0' }, 1), undefined);

  const other = rig({ ...SOCKET, WATCHDOG_USEC: '60000000', WATCHDOG_PID: '1' });
  assert.deepEqual(other.timers.periods(), [], 'pings asked of pid 1, not of 4242');

  const r = rig({ ...SOCKET, WATCHDOG_USEC: '60000000', WATCHDOG_PID: '4242' });
  assert.equal(r.notifier.pingEveryMs, 15_000);
  r.timers.fire(15_000);
  assert.deepEqual(r.children[0]!.args, ['WATCHDOG=1']);
  // A ping due while a run is in flight waits for it, once however many are due.
  r.timers.fire(15_000);
  r.timers.fire(15_000);
  r.notifier.status('busy');
  assert.equal(r.children.length, 1);
  r.children[0]!.end(0);
  assert.deepEqual(r.children[1]!.args, ['STATUS=busy', 'WATCHDOG=1']);
  r.children[1]!.end(0);
  assert.equal(r.children.length, 2);
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_watchdog_pings_total'), 2);
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_sent_total'), 2);
  // close(): no more pings (the stop's messages are sent before it).
  r.notifier.close();
  assert.deepEqual(r.timers.periods(), []);
});

test('while the start waits for disk space the start timeout is extended, until ready', () => {
  const r = rig(SOCKET);
  r.notifier.waiting('waiting for free disk space to open the store');
  assert.deepEqual(r.children[0]!.args, ['EXTEND_TIMEOUT_USEC=60000000', 'STATUS=waiting for free disk space to open the store']);
  r.children[0]!.end(0);
  r.timers.fire(20_000);
  assert.deepEqual(r.children[1]!.args, ['EXTEND_TIMEOUT_USEC=60000000', 'STATUS=waiting for free disk space to open the store']);
  r.children[1]!.end(0);
  r.notifier.ready('running');
  r.children[2]!.end(0);
  assert.deepEqual(r.timers.periods(), [], 'extensions end with READY=1');
  r.timers.fire(20_000);
  assert.equal(r.children.length, 3);
});

test('a missing binary: one warning naming the package, a counter per failure, the messages after it still tried', async () => {
  const enoent = Object.assign(new Error('spawn systemd-notify ENOENT'), { code: 'ENOENT' });
  const r = rig({ ...SOCKET, WATCHDOG_USEC: '4000000' }, enoent);
  r.notifier.status('starting');
  r.notifier.ready('running');
  r.timers.fire(1000);
  assert.equal(r.spawned.length, 3, 'each message tried');
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_failures_total', { reason: 'spawn' }), 3);
  const warnings = r
    .log()
    .split('\n')
    .filter((l) => l.includes('"level":40'));
  assert.equal(warnings.length, 1, r.log());
  assert.match(warnings[0]!, /systemd-notify could not be run \(install the Debian package systemd/);
  assert.match(warnings[0]!, /ENOENT/);
});

test('a run that fails says what systemd-notify said; one that hangs is killed after RUN_TIMEOUT_MS', async () => {
  const r = rig(SOCKET);
  r.notifier.status('a');
  r.children[0]!.end(1, 'Failed to notify init system: Connection refused\n');
  assert.match(r.log(), /"detail":"Failed to notify init system: Connection refused"/);
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_failures_total', { reason: 'exit' }), 1);
  r.notifier.status('b');
  r.notifier.status('c');
  r.timers.fire(RUN_TIMEOUT_MS);
  assert.equal(r.children[1]!.killed, 'SIGKILL');
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_failures_total', { reason: 'timeout' }), 1);
  assert.deepEqual(r.children[2]!.args, ['STATUS=c'], 'the next message goes once the hung run is given up');
  // The killed run's own end later changes nothing.
  r.children[1]!.end(137);
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_failures_total', { reason: 'exit' }), 1);
  assert.equal(r.children.length, 3);
});

test('the queue is bounded: the oldest waiting message is dropped and counted', async () => {
  const r = rig(SOCKET);
  r.notifier.status('first');
  // Alternating state changes cannot merge.
  for (let i = 0; i < MAX_QUEUED + 4; i++) {
    if (i % 2 === 0) r.notifier.reloading(`r${i}`);
    else r.notifier.ready(`ready${i}`);
  }
  assert.equal(await metricValue(r.registry, 'gatehouse_systemd_notify_failures_total', { reason: 'dropped' }), 4);
  r.children[0]!.end(0);
  assert.deepEqual(r.children[1]!.args.slice(0, 1), ['RELOADING=1']);
  assert.ok(r.children[1]!.args.includes('STATUS=r4'), `${r.children[1]!.args}`);
});
