// Ports for test peers that stop and start again on the port they had (a restart, an outage:
// mosquitto, nats-server, kinesalite, s3rver, the Firehose receiver, the Modbus TCP and OPC UA
// peers, an embedded broker restarted with other certificates), and every port a test must know
// before something listens on it (freePort in index.ts).
//
// Why: a port from listen(0) lies in Linux's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), where every listen(0) and
// every outgoing connection of the tests running alongside gets its port. While such a peer was
// down, another test could be handed its port, and the peer's restart failed (EADDRINUSE); a port
// from a listen(0) closed again could be taken before the test listened on it.
//
// How: the ports come from the 8192 below that range, which the kernel never hands out by itself
// (above it when the range starts too low to leave room). Each is claimed by a file created
// exclusively in <tmpdir>/gatehouse-test-ports/ holding the claiming process id, removed when the
// test ends (or its process exits; a claim whose process is gone is taken over), so two test
// processes never pick the same port. A port something outside the tests holds is skipped (a bind
// check), and onRestartablePort() tries another port when the peer's first start still finds its
// port taken. Use: `const port = await onRestartablePort(t, async (p) => { await listen(p); return p; })`.
import { mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const CLAIMS = join(tmpdir(), 'gatehouse-test-ports');
const SPAN = 8192;
const claimed = new Set<number>();
let exitHook = false;

/** The ports to pick from: [first, last], outside the ephemeral range. */
export function restartableRange(): [number, number] {
  let low = 32768;
  let high = 60999;
  try {
    const [l, h] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (l && h) [low, high] = [l, h];
  } catch {
    // not Linux: the default range
  }
  if (low - SPAN >= 1024) return [low - SPAN, low - 1];
  if (high + 1024 <= 65535) return [high + 1, Math.min(65535, high + SPAN)];
  return [Math.max(1024, low - SPAN), low - 1]; // no room either side: the best there is
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claim `port` for this process; false when another live process holds it. */
export function claimPort(port: number): boolean {
  const file = join(CLAIMS, String(port));
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      mkdirSync(CLAIMS, { recursive: true });
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      claimed.add(port);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', () => {
          for (const p of claimed) releasePort(p);
          try {
            rmdirSync(CLAIMS); // the last process to leave removes the folder
          } catch {
            // claims of others are in it
          }
        });
      }
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue; // the folder was removed meanwhile: again
      if (code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(file, 'utf8'));
    } catch {
      continue; // released meanwhile: try again
    }
    if (owner === process.pid || !Number.isInteger(owner) || alive(owner)) return false;
    try {
      unlinkSync(file); // the claim of a process that is gone (killed): take it over
    } catch {
      // another process took it over first
    }
  }
  return false;
}

export function releasePort(port: number): void {
  if (!claimed.delete(port)) return;
  try {
    unlinkSync(join(CLAIMS, String(port)));
  } catch {
    // already gone
  }
}

/** True when nothing listens on 127.0.0.1:port now. */
export function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port outside the ephemeral range, claimed for this test (released after it) and free a moment ago. */
export async function restartablePort(t: TestContext | undefined): Promise<number> {
  const [first, last] = restartableRange();
  for (let tries = 0; tries < 200; tries++) {
    const port = first + Math.floor(Math.random() * (last - first + 1));
    if (!claimPort(port)) continue;
    if (await bindable(port)) {
      t?.after(() => releasePort(port));
      return port;
    }
    releasePort(port);
  }
  throw new Error(`no free port in ${first}-${last} after 200 tries`);
}

/** True for a failure to listen because the port is taken (Node's error, one wrapping it, or a peer's stderr in the message). */
export function addressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(String(err));
}

/** First start of a restartable peer: `start(port)` on a restartable port, another port while it finds its port taken. */
export async function onRestartablePort<T>(t: TestContext | undefined, start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    const port = await restartablePort(t);
    try {
      return await start(port);
    } catch (err) {
      releasePort(port);
      if (i >= attempts || !addressInUse(err)) throw err;
    }
  }
}
