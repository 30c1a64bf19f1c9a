// Shared test helpers: temp dirs, free ports, waiting on events (never sleeping), system peers.
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { once, type EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { RuntimeDeps } from '../../core/deps.js';
import { restartablePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root, whether tests run from dist/test (compiled) or test/ (tsx). */
export const repoRoot: string = here.includes(`${join('dist', 'test')}`) ? resolve(here, '../../..') : resolve(here, '../..');
/** True when running compiled JS from dist/. */
export const compiled: boolean = here.includes(join('dist', 'test'));

/** A fresh temp dir removed after the test. */
export async function tempDir(t: TestContext, prefix = 'gatehouse-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => removeTempDir(dir));
  return dir;
}

/**
 * Removes a temp dir without ever failing the hook. node:test runs after-hooks in the order they
 * were registered and a hook that throws skips the ones after it, so a dir registered before the
 * process that writes into it (a peer, a gateway child) may still be written while it is removed
 * (ENOTEMPTY); throwing there would leave that process running and the file hanging until its
 * timeout (CI, round 12). What cannot be removed now is removed at exit, when the writers are gone.
 */
export async function removeTempDir(dir: string): Promise<void> {
  // Swept again at exit even when removed now: a writer whose after-hook runs later (a gateway's
  // stop writing its state files, a child killed after this hook) can make the dir again after a
  // remove that succeeded; those were the gatehouse-e2e-tail-* and gatehouse-fuzz-admin-* dirs left
  // in /tmp by CI runs (round 34).
  sweepAtExit(dir);
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch {
    // left for the sweep at exit, when the writers are gone
  }
}

/** Dirs to remove again when this test process exits (one exit listener for all of them). */
const sweptAtExit = new Set<string>();
function sweepAtExit(dir: string): void {
  if (sweptAtExit.size === 0) {
    process.once('exit', () => {
      for (const d of sweptAtExit) rmSync(d, { recursive: true, force: true });
    });
  }
  sweptAtExit.add(dir);
}

/**
 * A TCP port of 127.0.0.1 where nothing listens now, for this test alone: one of test/helpers/ports.ts,
 * outside the kernel's ephemeral range and claimed (released when `t` ends, else at the process's
 * exit). Not one from listen(0): that lies in the ephemeral range, where every listen(0) and every
 * outgoing connection of the tests running alongside gets its port, so another test could take it
 * before the caller listened on it (EADDRINUSE), or listen where the caller wanted nothing to.
 * Prefer listening on port 0 where the caller can; a peer restarted on its port: onRestartablePort.
 */
export function freePort(t?: TestContext): Promise<number> {
  return restartablePort(t);
}

/**
 * A TCP server on 127.0.0.1 that takes connections and never answers (a mock: no real proxy or
 * server hangs on demand): its port, how many connections it took and how many are open now (what
 * a client that gives up must close). Closed with its connections when `t` ends.
 */
export async function hungServer(t: TestContext): Promise<{ port: number; open: () => number; taken: () => number }> {
  const sockets = new Set<Socket>();
  let taken = 0;
  const server = createServer((s) => {
    taken++;
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, open: () => sockets.size, taken: () => taken };
}

/**
 * A TCP server on 127.0.0.1 that accepts and never says anything (a hung broker or gateway, the port
 * of a service that waits for its client to speak first); it and its connections closed when `t`
 * ends. `sockets`: the connections it accepted, in order.
 */
export async function silentTcpServer(t: TestContext): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

/** Wait for an event with a timeout; rejects with a message naming the event. */
export async function waitForEvent<T = unknown[]>(
  emitter: EventEmitter | { on(event: string, listener: (...args: never[]) => void): unknown },
  event: string,
  timeoutMs = 5000,
): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    // Typed emitters (mqtt.js) are EventEmitters at run time but not in their declared types.
    return (await once(emitter as EventEmitter, event, { signal: ac.signal })) as T;
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Poll a condition until it holds (for state with no event to wait on, e.g. a file appearing).
 * Polls with setImmediate/short timers; fails with `what` after timeoutMs.
 */
export async function waitUntil<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000, intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Absolute path of a system binary, or undefined. */
export function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : undefined;
}

/**
 * Skip message for a missing Debian package, or undefined when the binary exists.
 * Use: `const skip = needBinary('mosquitto', 'mosquitto'); test('x', { skip }, ...)`.
 */
export function needBinary(bin: string, debianPackage: string): string | undefined {
  if (which(bin)) return undefined;
  return `needs '${bin}': install the Debian package '${debianPackage}' (apt-get install ${debianPackage})`;
}

/** Quiet logger + private metrics registry for a component under test. */
export function testDeps(): RuntimeDeps {
  return { logger: pino({ level: process.env.GATEHOUSE_TEST_LOG ?? 'silent' }), registry: new Registry() };
}

/** Read a counter/gauge value (summed over labels matching `labels`) from a registry. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

/** Await a promise, failing with `what` after timeoutMs (the timer is cleared either way). */
export async function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
