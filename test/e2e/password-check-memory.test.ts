// The memory of password checks (docs/security.md, "Memory"). Each check (scrypt, N = 2^14, r = 8)
// takes 16 MiB from glibc's malloc on a thread of libuv's pool; by default glibc then raises its
// threshold for giving such blocks back and keeps them, one per pool thread that ran a check: the
// real gateway was ~32-64 MiB larger for good after its first logins. The launchers (the #! line of
// bin/gatehouse.js, `npm start`, the systemd unit) set MALLOC_MMAP_THRESHOLD_, so they are given
// back. The real CLI, started as the installed `gatehouse` is (the file executed, its #! line
// read), real mqtt.js clients logging in with a password; RSS from /proc (Linux, as the gateway).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { hashPassword } from '../../gateway/broker/index.js';
import { compiled, removeTempDir, repoRoot, withTimeout } from '../helpers/index.js';
import { spawnGatewayLogged, writeConfig } from '../helpers/gateway-process.js';

const MiB = 1024 * 1024;
const PASSWORD = 'right';

/**
 * A config with one user, in a temp dir the caller removes (`removeDir`) in an after-hook registered
 * after the one that kills its gateway: after-hooks run in the order registered, and a gateway
 * still starting when the dir was removed made its data directory again (an empty dir left in /tmp).
 */
async function usersConfig(): Promise<{ config: string; removeDir: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-pwmem-'));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nbroker:\n  allowAnonymous: false\n  users:\n    - { username: device, password: ${JSON.stringify(hashPassword(PASSWORD))} }\n`,
  );
  return { config, removeDir: () => removeTempDir(dir) };
}

const rssOf = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

test('password checks leave no memory behind in a gateway started by bin/gatehouse.js (its #! line sets MALLOC_MMAP_THRESHOLD_)', {
  skip: !compiled && 'runs the compiled CLI',
}, async (t) => {
  const { config, removeDir } = await usersConfig();
  // Executed itself, as the installed `gatehouse` is: `env -S` in its #! line runs node in its place.
  const proc = spawn(join(repoRoot, 'bin', 'gatehouse.js'), ['start', '--config', config, '--mqtt-port', '0', '--admin-port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '', MALLOC_MMAP_THRESHOLD_: undefined },
  });
  const exited = once(proc, 'exit');
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  t.after(removeDir);
  const started = await withTimeout(
    new Promise<{ mqtt: Array<{ port: number }> }>((resolve) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; mqtt?: Array<{ port: number }> };
        if (entry.msg === 'gatehouse started') resolve(entry as { mqtt: Array<{ port: number }> });
      });
    }),
    20_000,
    'gatehouse started',
  );
  assert.match(readlinkSync(`/proc/${proc.pid}/exe`), /\/node[^/]*$/, 'the #! line ran node in place of env');
  assert.match(readFileSync(`/proc/${proc.pid}/environ`, 'utf8'), /(^|\0)MALLOC_MMAP_THRESHOLD_=131072(\0|$)/);

  const url = `mqtt://127.0.0.1:${started.mqtt[0]!.port}`;
  const login = async (): Promise<void> => {
    const c = await mqtt.connectAsync(url, { username: 'device', password: PASSWORD, reconnectPeriod: 0, connectTimeout: 20_000 });
    await c.endAsync();
  };
  await login(); // the first connection's own allocations (TLS-free socket paths, mqtt-packet) are not the checks'
  const before = rssOf(proc.pid!);
  // 24 checks, 8 asked at once: the broker runs 2 at a time (authBackoff.maxConcurrentChecks), on
  // whichever pool threads are free; without the setting each such thread keeps 16 MiB.
  for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 8 }, login));
  const grown = rssOf(proc.pid!) - before;
  assert.ok(grown < 16 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB over 24 password checks (a kept check is 16 MiB)`);
});

test('started another way (node bin/gatehouse.js start), gatehouse start names the settings it runs without', {
  skip: !compiled && 'runs the compiled CLI',
}, async (t) => {
  const { config, removeDir } = await usersConfig();
  const gw = spawnGatewayLogged(config);
  t.after(async () => {
    gw.proc.kill('SIGKILL');
    await gw.exited;
  });
  t.after(removeDir);
  const line = await withTimeout(
    (async () => {
      for (;;) {
        const found = gw.logs.find((l) => Array.isArray(l.missing));
        if (found) return found;
        if (gw.msgs().includes('gatehouse started')) return undefined;
        await once(gw.proc.stdout!, 'data');
      }
    })(),
    20_000,
    'the start-up log',
  );
  assert.ok(line, 'an info line names what node runs without');
  // The child has this process's environment (the suite run with the setting: only the flag is missing).
  const expected = ['--max-semi-space-size=8', ...(process.env.MALLOC_MMAP_THRESHOLD_ === undefined ? ['MALLOC_MMAP_THRESHOLD_=131072'] : [])];
  assert.deepEqual(line.missing, expected);
  assert.match(String(line.msg), /npm start.*systemd unit.*\.\/bin\/gatehouse\.js/);
});

test('every launcher passes both settings: the #! line of bin/gatehouse.js, npm start, the systemd unit', () => {
  const shebang = readFileSync(join(repoRoot, 'bin', 'gatehouse.js'), 'utf8').split('\n')[0]!;
  const start = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const unit = readFileSync(join(repoRoot, 'systemd', 'gatehouse.service'), 'utf8');
  for (const [launcher, text] of [
    ['#! line', shebang],
    ['npm start', start],
    ['systemd unit', unit],
  ] as const) {
    assert.match(text, /MALLOC_MMAP_THRESHOLD_=131072/, `${launcher} sets MALLOC_MMAP_THRESHOLD_`);
    assert.match(text, /--max-semi-space-size=8/, `${launcher} passes --max-semi-space-size=8`);
  }
  assert.match(unit, /^Environment=MALLOC_MMAP_THRESHOLD_=131072$/m, 'the unit sets it for its ExecStart (and for an ExecStart= override)');
});
