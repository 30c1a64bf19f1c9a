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
import v8 from 'node:v8';

/** The old space may grow to (1 + this / 100) x its live size before V8 marks it again. */
export const HEAP_GROWING_PERCENT = 20;

export interface ProcessMemorySettings {
  heapGrowingPercent: number | 'node flag';
  packetNumberCache: false;
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
