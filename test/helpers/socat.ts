// A socat pty pair as a real serial "cable": <dir>/dev0 (device end) <-> <dir>/dev1 (gateway end).
// The links live at fixed names, so restart() recreates the same paths (cable replugged).
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { tempDir, testDeps, waitForEvent, waitUntil, needBinary } from './index.js';

export const socatSkip: string | undefined = needBinary('socat', 'socat');

export interface SocatPair {
  readonly dev0: string;
  readonly dev1: string;
  readonly running: boolean;
  /** Kill socat (the cable is pulled): both ends hang up, the links disappear. */
  stop(): Promise<void>;
  /** Start socat again on the same link names. */
  restart(): Promise<void>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function startSocat(t: TestContext): Promise<SocatPair> {
  const dir = await tempDir(t, 'gatehouse-socat-');
  const dev0 = join(dir, 'dev0');
  const dev1 = join(dir, 'dev1');
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    // A SIGKILLed socat leaves dangling links behind; clear them so 'exists' means 'new'.
    await rm(dev0, { force: true });
    await rm(dev1, { force: true });
    const c = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dev0}`, `pty,raw,echo=0,link=${dev1}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    child = c;
    await waitUntil(async () => (await exists(dev0)) && (await exists(dev1)), `socat created ${dev0} and ${dev1} (${stderr})`, 5000);
  }

  async function stop(): Promise<void> {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = waitForEvent(c, 'exit', 5000);
    c.kill('SIGKILL');
    await exited;
    await rm(dev0, { force: true });
    await rm(dev1, { force: true });
  }

  await start();
  t.after(stop);
  return {
    dev0,
    dev1,
    get running() {
      return child !== null;
    },
    stop,
    async restart() {
      await stop();
      await start();
    },
  };
}

/**
 * A line/JSON serial link named 'slow' on a fresh socat pair whose frames are not committed until
 * the test calls the resolvers in `pending` (a slow store): the link, open, and the device's end.
 */
export async function uncommittedLink(t: TestContext, maxInFlight: number) {
  const pair = await startSocat(t);
  const deps = testDeps();
  const pending: Array<() => void> = [];
  const link = createSerialLink(
    { name: 'slow', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, maxInFlight, reconnect: { watchMs: 50 } },
    { ...deps, onMessage: () => new Promise<void>((resolve) => pending.push(resolve)) },
  );
  await link.start();
  t.after(() => link.stop());
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  await waitUntil(() => link.status().state === 'open', 'link open');
  return { deps, pending, link, dev };
}
