// The wait to open the store on a full disk (gateway/store/open-wait.ts) with an injected open and
// free-space source (the real filesystem: test/e2e/store-open-disk-full.test.ts, as root): a retry
// only once space grew (or after logEveryMs), the first failure logged as an error and then at most
// once per logEveryMs, another error or no `wait` rejecting at once, an abort ending the wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { openWhenSpace, type OpenWait } from '../../gateway/store/open-wait.js';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { waitUntil } from '../helpers/index.js';

function rig() {
  const lines: Array<{ msg: string; level: number; freeBytes?: number }> = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(JSON.parse(c.toString()) as { msg: string; level: number });
        cb();
      },
    }),
  );
  const state = { free: 0, attempts: 0, opensAt: Number.POSITIVE_INFINITY };
  const open = async (): Promise<void> => {
    state.attempts++;
    if (state.free < state.opensAt) throw ERRORS.GH_STORE_DISK_FULL({ what: 'open its database', reason: 'the disk is full (No space left on device)' });
  };
  const ctx = { path: '/nonexistent/store', reserveBytes: 0, log, now: Date.now, mono: () => performance.now() };
  return { lines, state, open, ctx, freeBytes: async () => state.free };
}

test('a full disk at open is waited out: retried when space grows, logged once then at most once per logEveryMs', async () => {
  const r = rig();
  r.state.opensAt = 1000;
  const waits: Array<OpenWait | undefined> = [];
  const opened = openWhenSpace(r.open, r.ctx, { retryMs: 5, logEveryMs: 60_000, freeBytes: r.freeBytes, onWait: (w) => void waits.push(w && { ...w }) });
  await waitUntil(() => r.lines.length === 1, 'the first failure is logged');
  assert.equal(r.lines[0]?.level, 50);
  assert.match(r.lines[0]?.msg ?? '', /^store cannot open: the disk is full; waiting for space/);
  // Free space unchanged: no new attempt, however many checks.
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.state.attempts, 1);
  // Some space, not enough: one more attempt, not logged (within the minute).
  r.state.free = 10;
  await waitUntil(() => r.state.attempts === 2, 'a retry once space grew');
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(r.state.attempts, 2, 'no retry while free space stays where the last attempt failed');
  assert.equal(r.lines.length, 1);
  r.state.free = 2000;
  await opened;
  assert.equal(r.state.attempts, 3);
  assert.equal(r.lines.at(-1)?.msg, 'store opened after waiting for disk space');
  assert.equal(waits.length, 3);
  assert.equal(waits[1]?.attempts, 2);
  assert.equal(waits.at(-1), undefined, 'told when the wait ends');
});

test('while waiting, a retry and a log line at least once per logEveryMs even if free space does not change', async () => {
  const r = rig();
  const opened = openWhenSpace(r.open, r.ctx, { retryMs: 5, logEveryMs: 60, freeBytes: r.freeBytes });
  await waitUntil(() => r.lines.length >= 3, 'more lines, one per logEveryMs');
  assert.equal(r.lines[1]?.level, 40, 'later lines are warnings');
  r.state.opensAt = 0;
  await opened;
  // ~one attempt per logEveryMs, not one per retryMs.
  assert.ok(r.state.attempts <= r.lines.length + 1, `${r.state.attempts} attempts for ${r.lines.length} lines`);
});

test('another error, or a full disk without wait, rejects at once; an abort ends the wait with its reason', async () => {
  const r = rig();
  await assert.rejects(openWhenSpace(r.open, r.ctx, undefined), /the disk is full/);
  const other = async (): Promise<void> => {
    throw new GatehouseError('GH_STORE_OPEN', 'LOCK held');
  };
  await assert.rejects(openWhenSpace(other, r.ctx, { retryMs: 5, freeBytes: r.freeBytes }), /LOCK held/);
  const abort = new AbortController();
  const stop = new Error('SIGTERM while starting');
  const opened = openWhenSpace(r.open, r.ctx, { retryMs: 60_000, freeBytes: r.freeBytes, signal: abort.signal });
  await waitUntil(() => r.lines.some((l) => l.msg.startsWith('store cannot open')), 'waiting');
  const t0 = performance.now();
  abort.abort(stop);
  await assert.rejects(opened, (err) => err === stop);
  assert.ok(performance.now() - t0 < 1000, 'at once, not after retryMs');
});
