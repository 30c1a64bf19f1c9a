// Where a PUBACK's tail goes, seen from inside the broker's process (pi.ts, issue 15): how long
// its main thread waited for a CPU while runnable (the kernel's runqueue: another thread or
// process had the core), how long garbage collection paused it, and the event-loop delay. The
// commit window is not in these: pi.ts's frontier (BENCH_COMMIT_DELAYS) shows the p99 barely
// moves between store.commitDelayMs 0 and 7.
//
// Linux only for the runqueue figure (/proc/self/task/<pid>/schedstat: run ns, wait ns); 0
// elsewhere. The loop-delay histogram is opt-in (BENCH_LOOP_DELAY=1 in pi.ts): it runs a 1 ms
// timer in libuv, 1,000 wake-ups a second, which added ~50 us per message to the CPU figure at
// 500 msgs/s (A/B against a build without it) and would make CPU figures incomparable with
// earlier rounds. The runqueue and GC figures cost nothing per message.
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
  /** NaN unless the loop-delay histogram is on. */
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

export function startLoopWatch(opts: { loopDelay: boolean }): LoopWatch {
  const delay = opts.loopDelay ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  delay?.enable();
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
      return {
        mainRunMs,
        mainWaitMs,
        gcMs,
        gcCount,
        gcMaxMs,
        loopP99Ms: delay ? delay.percentile(99) / 1e6 : Number.NaN,
        loopMaxMs: delay ? delay.max / 1e6 : Number.NaN,
      };
    },
    resetLoop: () => {
      delay?.reset();
      gcMaxMs = 0;
    },
    stop: () => {
      delay?.disable();
      gc.disconnect();
    },
  };
}
