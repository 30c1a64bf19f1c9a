// Memory given back when the gateway goes idle (issue 15, idle footprint). Loading and starting,
// and any burst of traffic after, grow V8's young generation up to its two 8 MiB semi-spaces (and
// the old space with the burst's garbage). V8 gives them back only at a later GC that finds the
// allocation rate low, and an idle gateway allocates too little to make one: after 25,000
// messages the real `gatehouse start` sat at 96-98 MiB for minutes in half the runs, where a look
// below gives 76-86 (docs/benchmarks.md, round 24). On Node 20 V8's memory reducer sometimes steps in (seen some
// 9 s into an idle period after start, not always after a burst); on Node 24 an idle gateway made
// no GC at all: 89-90 MiB 40 s after its start, 77 after one (round 20).
//
// So the gateway looks IDLE_MEMORY_AFTER_MS after its start and then every IDLE_MEMORY_EVERY_MS:
// if the main thread was idle since the last look and the young generation is grown, it asks V8
// for one full GC. That is a pause of ~2-50 ms here, taken only by a gateway that was idle for
// the whole period and whose young generation is grown, so at most once per burst of traffic
// (once shrunk it is not grown until traffic grows it again); under load V8 manages its heap as
// before (the semi-spaces' maximum is not touched, throughput is unchanged).
//
// The GC: on V8 12 and later (Node 22, 24) the one a memory-pressure notification makes (gc()
// flavor 'last-resort': the young generation shrunk to its minimum at once). V8 11 (Node 20) has
// no such flavor: there a plain full GC shrinks the young generation only once V8's allocation
// rate of the last ~5 s is low (measured: not 2 s after a burst, always 6 s after), which the
// later looks give. The gc() function is taken from a new context with V8's --expose-gc set for
// that moment, so no global gc() appears.
// Process-wide, like process-memory.ts: `gatehouse start` owns its process and starts it; an
// embedding program keeps its own settings.
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/** The first look, after the start's own work has settled. */
export const IDLE_MEMORY_AFTER_MS = 2000;
/**
 * The looks after it: a wake-up of an idle gateway every 30 s, a GC only when idle since the last
 * look and grown. So V8's own memory reducer, which also compacts the old space (75-76 MiB after a
 * burst where ours gives 82-83), has had 30-60 s since the burst to run before ours does.
 */
export const IDLE_MEMORY_EVERY_MS = 30_000;
/** Idle: the main thread busy less than this share of the time since the last look (event-loop utilization). */
export const IDLE_UTILIZATION = 0.01;
/** Grown: the young generation holds more than this (its minimum is 0.5-1 MiB). */
export const GROWN_NEW_SPACE_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'major'; execution: 'sync'; flavor?: 'last-resort' }) => void;

export interface IdleMemoryDeps {
  /** Main-thread utilization (0..1) since the previous call (the first call: since the start). */
  utilization(): number;
  /** Bytes the young generation holds now. */
  newSpaceBytes(): number;
  /** The GC (idleGc). */
  gc(): void;
  log?: Logger;
}

export interface IdleMemoryRelease {
  /** GCs made so far (0: every look found the gateway busy or its young generation small). */
  readonly releases: number;
  stop(): void;
}

/** Whether a look should make the GC: the main thread was idle and the young generation is grown. */
export function shouldRelease(utilization: number, newSpaceBytes: number): boolean {
  return utilization < IDLE_UTILIZATION && newSpaceBytes > GROWN_NEW_SPACE_BYTES;
}

/** Look afterMs from now, then every everyMs (the timer unref'd: it keeps no stopping gateway alive). */
export function startIdleMemoryRelease(deps: IdleMemoryDeps, afterMs = IDLE_MEMORY_AFTER_MS, everyMs = IDLE_MEMORY_EVERY_MS): IdleMemoryRelease {
  let releases = 0;
  let stopped = false;
  let timer: NodeJS.Timeout;
  const look = (): void => {
    // utilization() is read at every look, so the next one covers only the time since this one.
    const utilization = deps.utilization();
    const before = deps.newSpaceBytes();
    if (shouldRelease(utilization, before)) {
      const t0 = performance.now();
      deps.gc();
      releases++;
      deps.log?.debug(
        { newSpaceMiB: +(before / 1048576).toFixed(1), afterMiB: +(deps.newSpaceBytes() / 1048576).toFixed(1), ms: +(performance.now() - t0).toFixed(1) },
        'idle: young generation given back',
      );
    }
    if (!stopped) timer = setTimeout(look, everyMs).unref();
  };
  timer = setTimeout(look, afterMs).unref();
  return {
    get releases() {
      return releases;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** The GC a look makes: memory-reducing on V8 12+, a full one on V8 11 (see the header). */
export function idleGc(): () => void {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (!exposed) v8.setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as Gc;
    if (Number(process.versions.v8.split('.')[0]) < 12) return () => gc({ type: 'major', execution: 'sync' });
    return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } finally {
    if (!exposed) v8.setFlagsFromString('--no-expose-gc');
  }
}

/** What `gatehouse start` runs. */
export function startProcessIdleMemoryRelease(log?: Logger): IdleMemoryRelease {
  let since = performance.eventLoopUtilization();
  return startIdleMemoryRelease({
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(now, since);
      since = now;
      return utilization;
    },
    newSpaceBytes: () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0,
    gc: idleGc(),
    ...(log ? { log } : {}),
  });
}
