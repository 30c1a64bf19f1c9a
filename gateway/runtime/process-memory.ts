// Process-wide memory settings `gatehouse start` applies before the gateway starts (issue 15,
// peak RSS). They belong to the process, not to one gateway: the CLI owns its process, so it
// calls this; startGateway() does not (a program embedding the gateway keeps its own settings).
// The Pi benchmark calls it too, so it measures what `gatehouse start` runs.
//
// 1. V8's heap growing factor. Messages wait for their commit's fsync (5-10 ms) and survive
//    scavenges, so at full speed the old space fills with dead messages and their payload
//    buffers. V8 lets the old space grow to the live size times a factor it picks from GC speed
//    (up to 4x on a fast host) before it marks again, and the payloads' ArrayBuffers are freed
//    only then: flat-out peak RSS was bimodal, about 125 or 180 MiB, by when the major GC came
//    (docs/benchmarks.md, round 14). A factor of 1.2 keeps it at about 115-120 MiB in every run
//    (round 15). A `--heap-growing-percent` given on node's command line is kept.
// 2. mqtt-packet's number cache: on its first packet it builds 65,536 two-byte Buffers (one per
//    packet id, ~6 MiB of old space) that every major GC then marks. Without it, writing a packet
//    id takes one 2-byte slice of Node's buffer pool.
// 3. What memory the process has, said in the start log (nothing is set from it). A cgroup limit
//    (systemd's MemoryMax=, a container's) is what process.constrainedMemory() reports, else the
//    machine's RAM. V8 sized its heap when node started, from that same figure (node passes the
//    smaller of the two): a quarter of it, but never under 256 MiB of old space, so on anything
//    up to 1 GiB the heap limit is ~280 MiB with --max-semi-space-size=8, above a 128 MiB
//    MemoryMax. It cannot be lowered once the process runs (--max-old-space-size set then is
//    ignored), only on node's command line, and it is not lowered there: what outgrew a small
//    limit in the low-memory bench was live state the configuration allows (retained messages,
//    offline sessions' queues, window groups), which a lower heap limit saved 6-22 MiB of but
//    turned from a kernel OOM kill at the cgroup's limit into V8's fatal "heap out of memory"
//    earlier (a start on 20,000 retained messages aborted with 64 MiB of old space under a 256
//    MiB limit it ran in otherwise; docs/benchmarks.md, round 34). So the log names the limit and
//    V8's heap limit, and warns below the smallest limit the default configuration's traffic fits in.
import os from 'node:os';
import v8 from 'node:v8';

/** The old space may grow to (1 + this / 100) x its live size before V8 marks it again. */
export const HEAP_GROWING_PERCENT = 20;

/**
 * Below this much memory (a cgroup limit or RAM) `gatehouse start` warns. The default
 * configuration's anonymous memory (heap, buffers, LevelDB) peaked at 67-73 MiB catching up a
 * backlog in the low-memory bench, and node's own code (35-50 MiB of mapped files) is charged to the
 * same limit where the gateway is the machine's only node process (docs/benchmarks.md, round 34).
 */
export const SMALLEST_MEMORY_MIB = 96;

export interface ProcessMemorySettings {
  heapGrowingPercent: number | 'node flag';
  packetNumberCache: false;
}

export interface ProcessMemory {
  /** What the process may use, MiB: its cgroup's limit when there is one below the RAM, else the RAM. */
  memoryMiB: number;
  memoryFrom: 'cgroup limit' | 'RAM';
  /** V8's heap limit (old and young generations), MiB, as node sized it at start. */
  heapLimitMiB: number;
}

/** The memory this process may use, and the heap limit V8 took from it. */
export function processMemory(constrained: number = process.constrainedMemory?.() ?? 0, total: number = os.totalmem()): ProcessMemory {
  // without a limit, cgroup v1 reports a huge number (2^63 rounded to a page) and v2 'max' reads as 0
  const limited = constrained > 0 && constrained < total;
  return {
    memoryMiB: Math.round((limited ? constrained : total) / 1048576),
    memoryFrom: limited ? 'cgroup limit' : 'RAM',
    heapLimitMiB: Math.round(v8.getHeapStatistics().heap_size_limit / 1048576),
  };
}

/** The start log's warning when the process has less memory than the gateway was measured to need, else undefined. */
export function smallMemoryWarning(m: ProcessMemory): string | undefined {
  if (m.memoryMiB >= SMALLEST_MEMORY_MIB) return undefined;
  return `this process may use ${m.memoryMiB} MiB (${m.memoryFrom}): below ${SMALLEST_MEMORY_MIB} MiB the default configuration's traffic does not fit with node's own code, and the kernel kills the gateway; give it more (systemd MemoryMax=, README "Small machines")`;
}

export async function applyProcessMemorySettings(execArgv: readonly string[] = process.execArgv): Promise<ProcessMemorySettings> {
  const given = execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  if (!given) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  // Imported here, not at the top: mqtt-packet must first be loaded after broker/quiet-debug.ts
  // hooked its debug instances (the CLI and the runtime import that module first).
  const { writeToStream } = await import('mqtt-packet');
  writeToStream.cacheNumbers = false;
  return { heapGrowingPercent: given ? 'node flag' : HEAP_GROWING_PERCENT, packetNumberCache: false };
}
