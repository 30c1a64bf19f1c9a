// Opening the store on a full disk. LevelDB replays its write-ahead log into a new table when it
// opens, so a gateway killed (kill -9, power cut) with an un-compacted log on a nearly full disk
// cannot open its store until space is freed. Failing the start made systemd restart it every
// 2 s forever, an error each time, the broker down. With `waitForSpace` the open waits instead:
// it re-reads the free space every `retryMs` and tries again as soon as it grew (and at least once
// per `logEveryMs` whatever statfs says), logs at the first failure and then at most once per
// `logEveryMs` with the free bytes and what to free, and gives up at once when its signal aborts
// (a stop signal: the open rejects with signal.reason). Nothing is written while it waits.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { freeBytesOf, isDiskFullError } from './disk-guard.js';

/** A store open waiting for disk space (healthz while waiting). Updated in place at each probe. */
export interface OpenWait {
  /** LevelDB's refusal, one line. */
  reason: string;
  /** Free bytes (for unprivileged users) at the last probe; undefined when statfs failed. */
  freeBytes: number | undefined;
  /** Bytes of LevelDB's log to replay: about what the new table needs. */
  logBytes: number;
  reserveBytes: number;
  /** What to do, one line. */
  hint: string;
  /** Epoch ms (wall time, shown, never subtracted from) of the first failed open. */
  since: number;
  /** Failed opens so far. */
  attempts: number;
}

export interface WaitForSpace {
  /** Abort the wait (a stop signal during the start): the open rejects with signal.reason. */
  signal?: AbortSignal;
  /** Told at the first failed open (and after each later one), and with undefined once open. */
  onWait?: (w: OpenWait | undefined) => void | Promise<void>;
  /** Free-space probe interval while waiting (default 5 s). */
  retryMs?: number;
  /** Log (and retry whatever statfs says) at most this often after the first line (default 60 s). */
  logEveryMs?: number;
  /** Free bytes of the filesystem holding path (injectable for tests). */
  freeBytes?: (path: string) => Promise<number>;
}

export interface OpenWaitContext {
  path: string;
  reserveBytes: number;
  log: Logger;
  now: () => number;
  mono: () => number;
}

/** Sum of the sizes of LevelDB's write-ahead logs (*.log) in the database directory. */
export async function logBytesOf(path: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) {
    if (name.endsWith('.log')) total += (await stat(join(path, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

function hintFor(w: Pick<OpenWait, 'logBytes' | 'reserveBytes'>, path: string): string {
  return (
    `free space on the filesystem of ${path}: at least ${w.logBytes} bytes (LevelDB replays its log into a new table when it opens)` +
    `${w.reserveBytes > 0 ? `, and ${w.reserveBytes} more (store.reserveBytes) for data appends to resume` : ''}` +
    ': delete or move other files there (export files already shipped, old logs); the gateway opens the store by itself, nothing stored is lost'
  );
}

/** Resolves after ms, or rejects with signal.reason as soon as the signal aborts. */
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}

/**
 * open() until it succeeds. A refusal for a full disk (GH_STORE_DISK_FULL) is waited out as
 * described above when `wait` is given; any other error, or a full disk without `wait`, rejects.
 */
export async function openWhenSpace(open: () => Promise<void>, ctx: OpenWaitContext, wait: WaitForSpace | undefined): Promise<void> {
  const retryMs = wait?.retryMs ?? 5000;
  const logEveryMs = wait?.logEveryMs ?? 60_000;
  const freeOf = wait?.freeBytes ?? freeBytesOf;
  const free = (): Promise<number | undefined> => freeOf(ctx.path).catch(() => undefined);
  let w: OpenWait | undefined;
  let lastLog = Number.NEGATIVE_INFINITY;
  for (;;) {
    let failure: unknown;
    try {
      await open();
    } catch (err) {
      failure = err;
    }
    if (failure === undefined) {
      if (w) {
        ctx.log.info({ path: ctx.path, attempts: w.attempts + 1, freeBytes: await free() }, 'store opened after waiting for disk space');
        await wait?.onWait?.(undefined);
      }
      return;
    }
    if (wait === undefined || !isDiskFullError(failure)) throw failure;
    const reason = (failure as Error).message.split('\n', 1)[0] as string;
    const freeAtFailure = await free();
    const logBytes = await logBytesOf(ctx.path);
    if (w === undefined) {
      w = { reason, freeBytes: freeAtFailure, logBytes, reserveBytes: ctx.reserveBytes, hint: '', since: ctx.now(), attempts: 0 };
    }
    w.attempts++;
    Object.assign(w, { reason, freeBytes: freeAtFailure, logBytes });
    w.hint = hintFor(w, ctx.path);
    const triedAt = ctx.mono();
    if (triedAt - lastLog >= logEveryMs) {
      lastLog = triedAt;
      const fields = { code: 'GH_STORE_DISK_FULL', path: ctx.path, freeBytes: w.freeBytes ?? null, logBytes, attempts: w.attempts, hint: w.hint, reason };
      const msg = `store cannot open: the disk is full; waiting for space (free space is checked every ${Math.round(retryMs / 1000)} s; SIGTERM/Ctrl-C stops the gateway)`;
      if (w.attempts === 1) ctx.log.error(fields, msg);
      else ctx.log.warn(fields, msg);
    }
    await wait.onWait?.(w);
    // Try again once space was freed (or at least once per logEveryMs: statfs may not tell all,
    // e.g. blocks reserved for root).
    for (;;) {
      await sleep(retryMs, wait.signal);
      w.freeBytes = await free();
      if (w.freeBytes === undefined || freeAtFailure === undefined || w.freeBytes > freeAtFailure || ctx.mono() - triedAt >= logEveryMs) break;
    }
  }
}
