// Allocation profile of a bench child (pi.ts BENCH_ALLOC=FILE, issue 15): V8's sampling heap
// profiler with the objects young- and old-generation GCs already collected included, i.e. every
// allocation sampled (by bytes, one sample per 4 KiB on average), not only what is still alive.
// That is what drives scavenges, so what per-message garbage costs. FILE is a .heapprofile
// (open it in Chrome DevTools' Memory tab); topAllocators() prints bytes per message by function.
import { Session } from 'node:inspector';
import { readFile, writeFile } from 'node:fs/promises';

export interface AllocProfiler {
  /** (Re)start sampling: allocations from now on. */
  start(): Promise<void>;
  /** Stop and write the profile to `file`. */
  stopTo(file: string): Promise<void>;
}

export function allocProfiler(): AllocProfiler {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  let sampling = false;
  return {
    start: async () => {
      if (sampling) await post('HeapProfiler.stopSampling');
      await post('HeapProfiler.enable');
      await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
      sampling = true;
    },
    stopTo: async (file) => {
      if (!sampling) return;
      sampling = false;
      const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
      await writeFile(file, JSON.stringify(profile));
    },
  };
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** "bytes/msg  function  file:line" lines for the `top` functions allocating the most (self). */
export async function topAllocators(file: string, messages: number, top = 15): Promise<string[]> {
  const { head } = JSON.parse(await readFile(file, 'utf8')) as { head: ProfileNode };
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode): void => {
    const f = n.callFrame;
    const where = f.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '');
    const key = `${f.functionName || '(anonymous)'}  ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
    for (const c of n.children) walk(c);
  };
  walk(head);
  const per = (b: number): string => (b / Math.max(1, messages)).toFixed(0).padStart(6);
  return [
    `${per(total)} bytes allocated per message in all`,
    ...[...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${per(v)}  ${k}`),
  ];
}
