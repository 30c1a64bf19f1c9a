// Memory given back once the start is over (issue 15, idle footprint). Loading and starting grow
// V8's young generation up to its two 8 MiB semi-spaces; V8 gives them back only when a later GC
// finds the allocation rate low. On Node 20 its memory reducer does that some 9 s into the idle
// period; on Node 24 an idle gateway makes no GC at all and kept them: 89-90 MiB 40 s after its
// start, 77 MiB after one memory-reducing GC (docs/benchmarks.md, round 20). After a burst of
// traffic V8 shrinks them by itself (measured on Node 24: 2 MiB left), so this looks once.
//
// IDLE_MEMORY_AFTER_MS after the start, if the main thread was idle and the young generation is
// grown, it asks V8 for the GC a memory-pressure notification makes (gc() flavor 'last-resort': all
// garbage collected, the young generation shrunk to its minimum): one pause of 30-50 ms here, on a
// gateway that is idle by definition; the young generation grows back under load as before
// (throughput is unchanged: the semi-spaces' maximum is not touched).
//
// Only on V8 12 and later (Node 22, 24): V8 11 (Node 20) takes the flavor as a plain full GC, which
// shrinks nothing (measured), and its own reducer runs there. The gc() function is taken from a new
// context with V8's --expose-gc set for that moment, so no global gc() appears.
// Process-wide, like process-memory.ts: `gatehouse start` owns its process and starts it; an
// embedding program keeps its own settings.
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/** The look, after the start's own work has settled. */
export const IDLE_MEMORY_AFTER_MS = 2000;
/** Idle: the main thread busy less than this share of the time since the start (event-loop utilization). */
export const IDLE_UTILIZATION = 0.01;
/** Grown: the young generation holds more than this (its minimum is 0.5-1 MiB). */
export const GROWN_NEW_SPACE_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface IdleMemoryDeps {
  /** Main-thread utilization (0..1) since the start. */
  utilization(): number;
  /** Bytes the young generation holds now. */
  newSpaceBytes(): number;
  /** The memory-reducing GC. */
  gc(): void;
  log?: Logger;
}

export interface IdleMemoryRelease {
  /** The look was made and the GC run (false: not yet, or the gateway was busy or not grown). */
  readonly released: boolean;
  stop(): void;
}

/** Whether a look should make the GC: the main thread was idle and the young generation is grown. */
export function shouldRelease(utilization: number, newSpaceBytes: number): boolean {
  return utilization < IDLE_UTILIZATION && newSpaceBytes > GROWN_NEW_SPACE_BYTES;
}

/** Look once, IDLE_MEMORY_AFTER_MS from now (the timer unref'd). */
export function startIdleMemoryRelease(deps: IdleMemoryDeps, afterMs = IDLE_MEMORY_AFTER_MS): IdleMemoryRelease {
  let released = false;
  const look = (): void => {
    const before = deps.newSpaceBytes();
    if (!shouldRelease(deps.utilization(), before)) return;
    const t0 = performance.now();
    deps.gc();
    released = true;
    deps.log?.debug(
      { newSpaceMiB: +(before / 1048576).toFixed(1), afterMiB: +(deps.newSpaceBytes() / 1048576).toFixed(1), ms: +(performance.now() - t0).toFixed(1) },
      'idle after start: young generation given back',
    );
  };
  const timer = setTimeout(look, afterMs).unref();
  return {
    get released() {
      return released;
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

/** The memory-reducing GC, or undefined where V8 has none (before V8 12: Node 20). */
export function memoryReducingGc(): (() => void) | undefined {
  if (Number(process.versions.v8.split('.')[0]) < 12) return undefined;
  const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (!exposed) v8.setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as Gc;
    return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } finally {
    if (!exposed) v8.setFlagsFromString('--no-expose-gc');
  }
}

/** What `gatehouse start` runs: undefined where V8 has no memory-reducing GC. */
export function startProcessIdleMemoryRelease(log?: Logger): IdleMemoryRelease | undefined {
  const gc = memoryReducingGc();
  if (!gc) return undefined;
  const since = performance.eventLoopUtilization();
  return startIdleMemoryRelease({
    utilization: () => performance.eventLoopUtilization(since).utilization,
    newSpaceBytes: () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0,
    gc,
    ...(log ? { log } : {}),
  });
}
