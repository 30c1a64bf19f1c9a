// A child memory cgroup with a hard limit, to run the gateway as a small machine or a systemd
// `MemoryMax=` would (test/bench/low-memory.ts and the low-memory integration test).
//
// cgroup v1 only (memory.limit_in_bytes, memory.failcnt, memory.oom_control): the memory
// controller must be mounted and this process's own memory cgroup writable, which is the case in
// a container given its own delegated cgroup and for root. cgroup v2 (memory.max) is not handled:
// memoryCgroupUnavailable() says why, and the callers skip with that reason.
//
//   const why = memoryCgroupUnavailable();   // undefined when usable
//   const cg = makeMemoryCgroup('gatehouse-lowmem-1', 128 * MiB);
//   const child = spawnInCgroup(cg, process.execPath, ['bin/gatehouse.js', 'start']);
//   cg.stats()  -> { usage, maxUsage, failcnt, oomKills }
//   cg.remove() -> the cgroup removed (its processes must have exited)
//
// Page cache counts against a v1 limit (charged to the cgroup whose process read or wrote the
// page); the kernel reclaims it first, before it OOM-kills.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const V1_ROOT = '/sys/fs/cgroup/memory';

/** This process's own memory cgroup directory (v1), or undefined. */
export function ownMemoryCgroup(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers?.split(',').includes('memory') && path !== undefined) return join(V1_ROOT, path);
  }
  return undefined;
}

/** Why a child memory cgroup cannot be made here, or undefined when it can. */
export function memoryCgroupUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux (cgroups are a Linux feature)';
  const own = ownMemoryCgroup();
  if (!own) return 'no cgroup v1 memory controller (/proc/self/cgroup names none; cgroup v2 memory.max is not handled by test/helpers/cgroup.ts)';
  if (!existsSync(join(own, 'memory.limit_in_bytes'))) return `${own}: no memory.limit_in_bytes (the memory controller is not mounted there)`;
  try {
    accessSync(own, constants.W_OK);
  } catch {
    return `${own}: not writable by this user (a child cgroup cannot be made)`;
  }
  return undefined;
}

export interface MemoryCgroupStats {
  /** memory.usage_in_bytes: what the cgroup is charged now (RSS, page cache, kernel memory). */
  usage: number;
  /** memory.max_usage_in_bytes: the highest charge so far. */
  maxUsage: number;
  /** memory.failcnt: how many times a charge hit the limit (the kernel then reclaimed). */
  failcnt: number;
  /** oom_kill from memory.oom_control: processes the OOM killer ended in this cgroup (-1: not reported by this kernel). */
  oomKills: number;
}

export interface MemoryCgroup {
  dir: string;
  limitBytes: number;
  stats(): MemoryCgroupStats;
  /** Forget the highest charge so far (memory.max_usage_in_bytes), to measure one phase. */
  resetMaxUsage(): void;
  /** rmdir the cgroup; what it still holds (a process that did not exit) is moved to the parent first. */
  remove(): void;
}

function readNumber(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** A new child memory cgroup of this process's own, limited to `limitBytes`, swap off for it. */
export function makeMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const why = memoryCgroupUnavailable();
  if (why) throw new Error(`cannot make a memory cgroup: ${why}`);
  const parent = ownMemoryCgroup()!;
  const dir = join(parent, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
  try {
    writeFileSync(join(dir, 'memory.swappiness'), '0');
  } catch {
    // a kernel without swap accounting: nothing to turn off
  }
  return {
    dir,
    limitBytes,
    stats() {
      const oom = readFileSync(join(dir, 'memory.oom_control'), 'utf8');
      const m = /^oom_kill (\d+)/m.exec(oom);
      return {
        usage: readNumber(join(dir, 'memory.usage_in_bytes')),
        maxUsage: readNumber(join(dir, 'memory.max_usage_in_bytes')),
        failcnt: readNumber(join(dir, 'memory.failcnt')),
        oomKills: m ? Number(m[1]) : -1,
      };
    },
    resetMaxUsage() {
      writeFileSync(join(dir, 'memory.max_usage_in_bytes'), '0');
    },
    remove() {
      if (!existsSync(dir)) return;
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(parent, 'cgroup.procs'), pid);
        } catch {
          // it exited meanwhile
        }
      }
      rmdirSync(dir);
    },
  };
}

/**
 * `cmd args` started inside the cgroup from its first instruction: a shell writes its own pid into
 * cgroup.procs, then execs the command (same pid), so nothing the command allocates is charged
 * elsewhere.
 */
export function spawnInCgroup(cg: MemoryCgroup, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(cg.dir, 'cgroup.procs'), cmd, ...args], options);
}
