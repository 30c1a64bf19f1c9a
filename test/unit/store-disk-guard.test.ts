// The disk guard's state machine with an injected free-space source (the real-filesystem tests are
// in test/integration/store-disk-full.test.ts and need root): low space with hysteresis, write
// errors that wait for room and a successful reopen, one log line per state change, metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DiskGuard, REOPEN_MIN_FREE, isStorageWriteError, resumeAt } from '../../gateway/store/disk-guard.js';
import { isGatehouseError } from '../../core/errors.js';
import { metricValue } from '../helpers/index.js';

const MiB = 1024 * 1024;

function rig(reserve: number, checkWrites?: (guard: DiskGuard) => Promise<boolean>) {
  const lines: Array<{ msg: string; level: number }> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(JSON.parse(c.toString()) as { msg: string; level: number });
        cb();
      },
    }),
  );
  const registry = new Registry();
  let free = 100 * MiB;
  let reopens = 0;
  let reopenFails = false;
  /** While set, statfs reads the free space at once and answers when it resolves. */
  let statfsGate: Promise<void> | undefined;
  const guard = new DiskGuard({
    path: '/data',
    reserveBytes: reserve,
    probeMs: 1_000_000,
    log: logger,
    registry,
    freeBytes: async () => {
      const read = free;
      await statfsGate;
      return read;
    },
    ...(checkWrites && { checkWrites: () => checkWrites(guard) }),
    recover: async () => {
      reopens++;
      if (reopenFails) throw Object.assign(new Error('Database failed to open'), { cause: new Error('IO error: No space left on device') });
    },
  });
  return {
    guard,
    registry,
    lines,
    setFree: (n: number) => {
      free = n;
    },
    /** Hold every statfs answer until the returned function is called. */
    holdStatfs: (): (() => void) => {
      let release!: () => void;
      statfsGate = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        statfsGate = undefined;
        release();
      };
    },
    reopens: () => reopens,
    failReopen: (v: boolean) => {
      reopenFails = v;
    },
  };
}

test('low space: refused under the reserve, resumes only above reserve + 1/8, one log line per change', async () => {
  const r = rig(8 * MiB);
  await r.guard.start();
  manualProbes(r.guard);
  assert.equal(r.guard.writable, true);
  r.setFree(7 * MiB);
  await r.guard.probe();
  assert.equal(r.guard.writable, false);
  assert.equal(r.guard.state().condition, 'low-space');
  assert.match(r.guard.state().reason ?? '', /under the reserve/);
  const err = r.guard.refusal('archive');
  assert.ok(isGatehouseError(err, 'GH_STORE_DISK_FULL'));
  // The error line says what to do, as the refused appends' error does.
  assert.match(
    String((r.lines.find((l) => l.level === 50) as { fix?: string } | undefined)?.fix),
    /^free space on the filesystem of .+ \(the gateway resumes by itself once at least \d+ bytes are free\), or lower store\.reserveBytes$/,
  );
  assert.equal(await metricValue(r.registry, 'gatehouse_store_refused_appends_total'), 1);
  assert.equal(await metricValue(r.registry, 'gatehouse_store_writable'), 0);
  // Hovering just above the reserve does not flap.
  for (const f of [8 * MiB + 1, 7 * MiB, resumeAt(8 * MiB) - 1]) {
    r.setFree(f);
    await r.guard.probe();
    assert.equal(r.guard.writable, false, `free ${f}`);
    // above the reserve, the reason names the level appends resume at (not "under the reserve")
    assert.match(
      r.guard.state().reason ?? '',
      f < 8 * MiB
        ? /under the reserve of 8388608 bytes/
        : new RegExp(`above the reserve of 8388608 bytes .* under the ${resumeAt(8 * MiB)} bytes appends resume at`),
    );
  }
  r.setFree(resumeAt(8 * MiB));
  await r.guard.probe();
  assert.equal(r.guard.writable, true);
  assert.equal(await metricValue(r.registry, 'gatehouse_store_writable'), 1);
  assert.deepEqual(
    r.lines.map((l) => l.msg),
    ['store not writable: data appends are refused (no PUBACK, no serial ACK) until space returns', 'store writable again: data appends resume'],
  );
  assert.equal(r.reopens(), 0, 'low space alone needs no reopen');
});

test('write error: everything refused until there is room and the reopen succeeds', async () => {
  const r = rig(0);
  await r.guard.start();
  manualProbes(r.guard);
  r.setFree(1 * MiB); // under REOPEN_MIN_FREE
  r.guard.writeFailed(Object.assign(new Error('IO error: /data/000007.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
  await r.guard.probe();
  assert.equal(r.guard.failed, true);
  assert.equal(r.guard.state().condition, 'write-error');
  assert.equal(r.reopens(), 0, 'no reopen attempt without room for the log replay');
  assert.equal(await metricValue(r.registry, 'gatehouse_store_failed_commits_total', { reason: 'no-space' }), 1);
  // A second failure (a batch admitted before) is counted but changes nothing.
  r.guard.writeFailed(Object.assign(new Error('IO error: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
  assert.equal(await metricValue(r.registry, 'gatehouse_store_failed_commits_total'), 2);

  r.setFree(REOPEN_MIN_FREE);
  r.failReopen(true);
  await r.guard.probe();
  assert.equal(r.reopens(), 1);
  assert.equal(r.guard.failed, true, 'a failed reopen keeps the store refusing');
  assert.match(r.guard.state().reason ?? '', /reopening the store failed: IO error/);
  r.failReopen(false);
  await r.guard.probe();
  assert.equal(r.reopens(), 2);
  assert.equal(r.guard.writable, true);
  assert.equal(r.lines.filter((l) => l.level >= 50).length, 1, 'one error line for the whole episode');
  assert.match(String((r.lines.find((l) => l.level === 50) as { fix?: string }).fix), /^free space on the filesystem of .+: the store reopens by itself$/);
});

test('write error on a disk the backlog filled: reopened with room for the log replay, then low space (checkpoints and deletes go through) until the reserve is back', async () => {
  const r = rig(32 * MiB);
  await r.guard.start();
  manualProbes(r.guard);
  r.setFree(0);
  // a LevelDB compaction outgrew the reserve: ENOSPC, every write refused until a reopen
  r.guard.writeFailed(Object.assign(new Error('IO error: /data/000042.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
  assert.equal(r.guard.state().condition, 'write-error');
  await r.guard.probe(); // the probe writeFailed started, with no room
  assert.equal(r.reopens(), 0);
  r.setFree(REOPEN_MIN_FREE + MiB); // room for the log replay, far from the reserve
  await r.guard.probe();
  // Before: no reopen until the reserve (36 MiB) was free, which only the exporters' deletes
  // could free, and the unwritable store took none: stuck for good.
  assert.equal(r.reopens(), 1, 'reopened with room for the log replay');
  assert.equal(r.guard.state().condition, 'low-space', 'data appends still wait for the reserve');
  assert.equal(r.guard.writable, false);
  r.setFree(resumeAt(32 * MiB));
  await r.guard.probe();
  assert.equal(r.guard.writable, true);
  assert.equal(r.reopens(), 1);
});

test('write error with no room even for the log replay: the space ballast is given up and the store reopens; it is rewritten only with room above the resume threshold', async () => {
  const calls: string[] = [];
  let held = 16 * MiB;
  let free = 100 * MiB;
  const guard = new DiskGuard({
    path: '/data',
    reserveBytes: 32 * MiB,
    probeMs: 1_000_000,
    log: pino({ level: 'silent' }),
    registry: new Registry(),
    freeBytes: async () => free,
    recover: async () => void calls.push(`reopen with ${free}`),
    ballast: {
      ensure: (f, keep) => void calls.push(`ensure ${f} ${keep}`),
      release: async () => {
        const n = held;
        held = 0;
        free += n;
        return n;
      },
    },
  });
  await guard.start();
  manualProbes(guard);
  assert.deepEqual(calls, [`ensure ${100 * MiB} ${resumeAt(32 * MiB)}`], 'an ok probe asks for the ballast');
  calls.length = 0;
  free = 2 * MiB; // a compaction filled the disk; its output is freed only by a reopen
  guard.writeFailed(Object.assign(new Error('IO error: /data/000042.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
  await guard.probe();
  // Before: under REOPEN_MIN_FREE nothing was tried, and nothing else could free the disk.
  assert.deepEqual(calls, [`reopen with ${18 * MiB}`], 'the ballast was given up, then the store reopened');
  assert.equal(guard.state().condition, 'low-space');
  calls.length = 0;
  free = 1 * MiB;
  guard.writeFailed(Object.assign(new Error('IO error: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
  await guard.probe();
  assert.deepEqual(calls, [], 'no ballast left: no reopen attempt without room');
});

test('a probe asked for while one is in flight reads the free space again after it (the one in flight read it before the ask)', async () => {
  const r = rig(8 * MiB);
  await r.guard.start();
  manualProbes(r.guard);
  const release = r.holdStatfs();
  const first = r.guard.probe(); // reads 100 MiB free, answers later
  r.setFree(7 * MiB); // the disk fills while it is in flight
  const second = r.guard.probe();
  const third = r.guard.probe();
  assert.notEqual(second, first, 'the ask after the change is not answered by the read before it');
  assert.equal(third, second, 'at most one probe is queued');
  release();
  await first;
  assert.equal(r.guard.writable, true, 'the first probe saw the space it read');
  await second;
  assert.equal(r.guard.state().condition, 'low-space', 'the queued probe read the space after the change');
  // Nothing stays queued: the next ask runs a probe of its own.
  r.setFree(100 * MiB);
  await r.guard.probe();
  assert.equal(r.guard.writable, true);
});

test('only I/O errors make the store unwritable', async () => {
  const r = rig(0);
  await r.guard.start();
  manualProbes(r.guard);
  r.guard.writeFailed(new Error('a bug'));
  assert.equal(r.guard.writable, true);
  assert.equal(await metricValue(r.registry, 'gatehouse_store_failed_commits_total', { reason: 'other' }), 1);
  for (const e of [{ code: 'ENOSPC' }, { code: 'EIO' }, { code: 'LEVEL_IO_ERROR' }, { message: 'write EIO' }, { message: 'Read-only file system' }]) {
    assert.equal(isStorageWriteError(Object.assign(new Error(e.message ?? 'x'), e)), true, JSON.stringify(e));
  }
  assert.equal(isStorageWriteError(new Error('LEVEL_NOT_FOUND')), false);
});

/** Stop the probe timer: these tests call probe() themselves. */
test('space back after low space: writable again only once a write check goes through; a failed check makes it a write error, and the store reopens', async () => {
  // The check stands for the store's (write-check.ts): LevelDB refusing writes after a compaction
  // that failed in its own thread while the disk was full.
  let checks = 0;
  let leveldbFailed = true;
  const r = rig(8 * MiB, async (guard) => {
    checks++;
    if (!leveldbFailed) return true;
    guard.writeFailed(Object.assign(new Error('IO error: /data/000011.ldb: No space left on device'), { code: 'LEVEL_IO_ERROR' }));
    return false;
  });
  await r.guard.start();
  manualProbes(r.guard);
  r.setFree(7 * MiB);
  await r.guard.probe();
  assert.equal(r.guard.state().condition, 'low-space');
  assert.equal(checks, 0, 'no check while the store stays writable or stays low');
  r.setFree(50 * MiB);
  await r.guard.probe();
  assert.equal(checks, 1);
  assert.equal(r.guard.writable, false, 'not writable: LevelDB refuses writes');
  assert.equal(r.guard.state().condition, 'write-error');
  assert.match(r.guard.state().reason ?? '', /No space left on device/);
  leveldbFailed = false;
  await r.guard.probe();
  assert.equal(r.reopens(), 1, 'reopened');
  assert.equal(r.guard.writable, true);
  assert.equal(checks, 1, 'a reopen needs no check');
});

function manualProbes(guard: DiskGuard): void {
  guard.stop();
}
