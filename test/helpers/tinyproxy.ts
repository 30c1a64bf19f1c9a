// A real HTTP proxy for tests: tinyproxy (Debian package tinyproxy), our own instance with its own
// config file in a temp dir, in the foreground (-d), never the system service. Its log (LogLevel
// Connect) has one line per request it took: `Request (file descriptor N): CONNECT host:port
// HTTP/1.1` for a tunnel, `POST http://host:port/path HTTP/1.1` for a plain http request; the
// tests read them to prove that the traffic went through it. down()/up() stop it and start it
// again on the same port (a restartable port: ports.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { needBinary, tempDir, waitUntil, which } from './index.js';
import { bindable, onRestartablePort } from './ports.js';
import { portOpen } from './peers.js';

/** Skip message when tinyproxy is missing (`test('x', { skip: tinyproxySkip }, ...)`). */
export const tinyproxySkip: string | undefined = needBinary('tinyproxy', 'tinyproxy');

export interface TinyproxyOptions {
  /** Basic authentication: only this user and password get through (else 407). */
  user?: { name: string; password: string };
  /** Ports a CONNECT may go to (tinyproxy's ConnectPort; else 403). Default: any. */
  connectPorts?: number[];
}

export interface Tinyproxy {
  /** http://127.0.0.1:PORT (no credentials). */
  url: string;
  port: number;
  /** The request lines it logged, e.g. 'CONNECT 127.0.0.1:4567 HTTP/1.1', 'POST http://127.0.0.1:4567/ HTTP/1.1'. */
  requests(): Promise<string[]>;
  /** Its whole log. */
  log(): Promise<string>;
  /** Stop it (connections dropped); up() starts it again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
}

/** tinyproxy on 127.0.0.1 on a restartable port, stopped after the test. */
export async function startTinyproxy(t: TestContext, o: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const bin = which('tinyproxy');
  if (!bin) throw new Error('tinyproxy is not installed (apt-get install tinyproxy)');
  const dir = await tempDir(t, 'gatehouse-tinyproxy-');
  const logFile = join(dir, 'tinyproxy.log');
  const confFile = join(dir, 'tinyproxy.conf');
  let child: ChildProcess | undefined;
  let port = 0;
  let stderr = '';
  const boot = async (): Promise<void> => {
    if (!(await bindable(port))) throw new Error(`tinyproxy cannot listen on ${port}: address already in use`);
    const c = spawn(bin, ['-d', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    stderr = '';
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4000) stderr += d;
    });
    let gone = false;
    c.once('close', () => {
      gone = true;
    });
    await waitUntil(async () => gone || portOpen(port), `tinyproxy listening on ${port}`, 10_000, 20);
    if (gone) throw new Error(`tinyproxy exited with ${c.exitCode}: ${stderr}`);
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
  };
  // Before the data dir's removal (after-hooks run in reverse order of registration).
  t.after(halt);
  await onRestartablePort(t, async (p) => {
    port = p;
    const lines = [
      `Port ${p}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      `LogFile "${logFile}"`,
      'LogLevel Connect',
      `PidFile "${join(dir, 'tinyproxy.pid')}"`,
      'MaxClients 32',
      'Allow 127.0.0.1',
      ...(o.user ? [`BasicAuth ${o.user.name} ${o.user.password}`] : []),
      ...(o.connectPorts ?? []).map((cp) => `ConnectPort ${cp}`),
    ];
    await writeFile(confFile, `${lines.join('\n')}\n`);
    await boot();
  });
  const log = async (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    async requests() {
      const out: string[] = [];
      for (const m of (await log()).matchAll(/Request \(file descriptor \d+\): (.+)$/gm)) out.push(m[1]!.trim());
      return out;
    },
    down: halt,
    async up() {
      if (!child) await boot();
    },
  };
}
