// Where a PUBACK's tail goes, seen from inside the broker's process (pi.ts, issue 15): how long
// its main thread waited for a CPU while runnable (the kernel's runqueue: another thread or
// process had the core), how long garbage collection paused it, and the event-loop delay. The
// commit window is not in these: pi.ts's frontier (BENCH_COMMIT_DELAYS) shows the p99 barely
// moves between store.commitDelayMs 0 and 7.
//
// Linux only for the runqueue figure (/proc/self/task/<pid>/schedstat: run ns, wait ns); 0
// elsewhere. The loop-delay histogram runs a 1 ms timer in libuv (a few us of CPU per ms): both
// the bare broker and the gateway carry it, so their CPU figures stay comparable.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** Cumulative since start, except the loop-delay quantiles (since the last resetLoop()). */
export interface LoopSnapshot {
  /** ms the main thread ran on a CPU. */
  mainRunMs: number;
  /** ms the main thread was runnable but waited for a CPU. */
  mainWaitMs: number;
  /** ms of GC pauses on the main thread, and how many. */
  gcMs: number;
  gcCount: number;
  /** The longest single GC pause since resetLoop(). */
  gcMaxMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

export interface LoopWatch {
  snapshot(): LoopSnapshot;
  /** Start a new loop-delay histogram and GC maximum (the next run's). */
  resetLoop(): void;
  stop(): void;
}

function schedstat(): [number, number] {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return [(run ?? 0) / 1e6, (wait ?? 0) / 1e6];
  } catch {
    return [0, 0];
  }
}

export function startLoopWatch(): LoopWatch {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let gcMs = 0;
  let gcCount = 0;
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount++;
      if (e.duration > gcMaxMs) gcMaxMs = e.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  return {
    snapshot: () => {
      const [mainRunMs, mainWaitMs] = schedstat();
      return { mainRunMs, mainWaitMs, gcMs, gcCount, gcMaxMs, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6 };
    },
    resetLoop: () => {
      delay.reset();
      gcMaxMs = 0;
    },
    stop: () => {
      delay.disable();
      gc.disconnect();
    },
  };
}
