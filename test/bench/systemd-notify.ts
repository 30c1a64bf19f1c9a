// What one message to systemd costs the gateway (gateway/runtime/service-notify.ts): a run of the
// real `systemd-notify WATCHDOG=1` (its barrier answered by test/helpers/notify-manager.py, the
// stand-in for PID 1), one after the other, from a process whose heap is about the gateway's
// (fork copies its page tables: the spawn's cost grows with RSS). CPU of this process (the spawn)
// and of the children (systemd-notify itself, /proc/self/stat cutime+cstime), per run, and the
// wall time of a run. The watchdog's pings are one such run every WatchdogSec/4 (15 s with the
// unit's WatchdogSec=60).
//
//   node dist/test/bench/systemd-notify.js [runs] [heapMiB]     (default 200 runs, 60 MiB)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, import.meta.url.endsWith('.js') ? '../../..' : '../..');
const runs = Number(process.argv[2] ?? 200);
const heapMiB = Number(process.argv[3] ?? 60);

/** CPU ms of reaped children (utime + stime of /proc/self/stat's cutime, cstime; 100 ticks a second). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3): cutime is field 16, cstime 17
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-notify-'));
  const socket = join(dir, 'notify');
  const manager = spawn('python3', [join(root, 'test', 'helpers', 'notify-manager.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  await new Promise<void>((ready) =>
    createInterface({ input: manager.stdout }).on('line', (l) => {
      if (l.includes('"listening"')) ready();
      else if (l.includes('WATCHDOG=1')) received++;
    }),
  );
  // A heap about the gateway's, touched (fork copies page tables of what is mapped).
  const ballast = Array.from({ length: heapMiB }, () => Buffer.alloc(1024 * 1024, 1));
  const env = { NOTIFY_SOCKET: socket, PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const run = (): Promise<number> =>
    new Promise((done, fail) => {
      const c = spawn('systemd-notify', ['WATCHDOG=1'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      c.once('error', fail);
      c.once('close', (code) => (code === 0 ? done(0) : fail(new Error(`systemd-notify exit ${code}`))));
    });
  for (let i = 0; i < 10; i++) await run(); // warm-up
  const cpu0 = process.cpuUsage();
  const kids0 = childrenCpuMs();
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    walls.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  const kidsMs = childrenCpuMs() - kids0;
  walls.sort((a, b) => a - b);
  const parentMs = (cpu.user + cpu.system) / 1000;
  console.log(`systemd-notify: ${runs} runs, parent RSS ${Math.round(process.memoryUsage().rss / 1048576)} MiB (ballast ${ballast.length} MiB)`);
  console.log('| per run | gateway process (spawn) | systemd-notify (child) | total CPU | wall p50 | wall p99 |');
  console.log('|---|---|---|---|---|---|');
  console.log(
    `| ms | ${(parentMs / runs).toFixed(2)} | ${(kidsMs / runs).toFixed(2)} | ${((parentMs + kidsMs) / runs).toFixed(2)} | ${walls[Math.floor(runs / 2)]!.toFixed(2)} | ${walls[Math.floor(runs * 0.99)]!.toFixed(2)} |`,
  );
  const perMinute = 4 * ((parentMs + kidsMs) / runs);
  console.log(`pings at WatchdogSec=60 (every 15 s): ${perMinute.toFixed(1)} ms CPU a minute (${((perMinute / 60_000) * 100).toFixed(3)} % of one core)`);
  await new Promise((r) => setTimeout(r, 200));
  console.log(`messages the stand-in took: ${received} of ${runs + 10}`);
  manager.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

await main();
