// A stand-in for systemd's notify socket (PID 1 is not systemd here): notify-manager.py, run with
// python3 (Debian package python3), each message it takes as a NotifyMessage.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { repoRoot, tempDir, waitUntil } from './index.js';

export interface NotifyMessage {
  /** CLOCK_MONOTONIC seconds of its arrival (process.hrtime's clock). */
  t: number;
  pid: number | null;
  uid: number | null;
  fds: number;
  fields: string[];
  /** For READY=1 with a probe port: whether 127.0.0.1:port took a TCP connection then. */
  accepting?: true | string;
}

export interface NotifyManager {
  /** NOTIFY_SOCKET for the gateway. */
  socket: string;
  /** Every message so far, BARRIER=1 ones included. */
  messages: NotifyMessage[];
  /** Messages holding `field` (e.g. 'READY=1', or 'STATUS=' for any status). */
  with(field: string): NotifyMessage[];
  /** The first message holding `field`, waited for. */
  waitFor(field: string, timeoutMs?: number): Promise<NotifyMessage>;
}

/** dir: where its socket goes (default a temp folder of this test; one a unit sandbox sees: under /run). */
export async function startNotifyManager(t: TestContext, probePort?: number, inDir?: string): Promise<NotifyManager> {
  const dir = inDir ?? (await tempDir(t, 'gatehouse-notify-'));
  const socket = join(dir, 'notify');
  const proc = spawn('python3', [join(repoRoot, 'test', 'helpers', 'notify-manager.py'), socket, ...(probePort ? [String(probePort)] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    proc.kill('SIGKILL');
  });
  const messages: NotifyMessage[] = [];
  let listening = false;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as NotifyMessage & { listening?: string };
    if (m.listening) listening = true;
    else messages.push(m);
  });
  await waitUntil(() => listening, 'the stand-in for PID 1 listens', 10_000);
  const has = (field: string) => (m: NotifyMessage) => m.fields.some((f) => (field.endsWith('=') ? f.startsWith(field) : f === field));
  return {
    socket,
    messages,
    with: (field) => messages.filter(has(field)),
    waitFor: (field, timeoutMs = 15_000) =>
      waitUntil(() => messages.find(has(field)), `a message with ${field} (got ${JSON.stringify(messages.map((m) => m.fields))})`, timeoutMs),
  };
}
