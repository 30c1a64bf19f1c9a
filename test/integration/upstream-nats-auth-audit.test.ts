// NATS destination against a real nats-server whose authorization changes under it (config reload,
// SIGHUP): the server drops the gateway's connection and refuses its credentials for a while
// (a rotation gone wrong, a mistyped reload), then accepts them again. The destination must say
// why it is not connected and come back by itself once the server accepts it again; the nats
// client gives up reconnecting after the same auth error twice (ignoreAuthErrorAbort defaults to false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';
import { errorMessage } from '../../core/errors.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { freePort, needBinary, tempDir, testDeps, waitUntil, which } from '../helpers/index.js';

const skip = needBinary('nats-server', 'nats-server');

interface AuthNats {
  url: string;
  /** Rewrite the password the server accepts for user gw and reload (SIGHUP). */
  setPassword(pass: string): Promise<void>;
}

async function startAuthNats(t: TestContext, pass: string): Promise<AuthNats> {
  const dir = await tempDir(t, 'gatehouse-nats-auth-');
  const port = await freePort(t);
  const conf = join(dir, 'nats.conf');
  const write = (p: string): Promise<void> =>
    writeFile(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\nauthorization { user: gw, password: ${p} }\n`);
  await write(pass);
  const child = spawn(which('nats-server')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    async setPassword(p) {
      await write(p);
      child.kill('SIGHUP');
    },
  };
}

let seq = 0;
const rec = (): StoredRecord => ({ stream: 'up', seq: ++seq, topic: 'dev/d1/data', receivedAt: Date.now(), payload: Buffer.from('{"t":1}') });

/** One send: 'ok', or the thrown (or per-record) error text. */
async function trySend(dest: Destination): Promise<string> {
  try {
    const [r] = await dest.send([rec()], new AbortController().signal);
    return r?.ok ? 'ok' : (r?.error ?? 'no result');
  } catch (err) {
    return errorMessage(err);
  }
}

async function startDest(t: TestContext, url: string, password: string): Promise<Destination> {
  const dest = createNatsDestination(
    natsOptionsSchema.parse({ servers: url, user: 'gw', password, stream: 'GH', createStream: true, reconnectWaitMs: 100, ackTimeoutMs: 2000 }),
    testDeps(),
  );
  await dest.start();
  t.after(() => dest.stop());
  return dest;
}

test('nats: the server refuses the credentials for a while (reload), then accepts them again: export resumes by itself', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const nats = await startAuthNats(t, 'right');
  const dest = await startDest(t, nats.url, 'right');
  await waitUntil(async () => (await trySend(dest)) === 'ok', 'a first record delivered', 15_000);

  await nats.setPassword('rotated');
  // The server closes the connection; reconnects are refused; the error says why.
  const refused = await waitUntil(
    async () => {
      const r = await trySend(dest);
      return /authorization/i.test(r) ? r : undefined;
    },
    'a send that says the credentials are refused',
    15_000,
  );
  assert.match(refused, /credentials|user|password/i, `names what to check: ${refused}`);

  await nats.setPassword('right');
  await waitUntil(async () => (await trySend(dest)) === 'ok', 'a send delivered after the server accepts the credentials again', 20_000);
});

test('nats: wrong credentials from the start: the send error says the server refused them', { skip, timeout: 60_000 }, async (t) => {
  const nats = await startAuthNats(t, 'right');
  const dest = await startDest(t, nats.url, 'wrong');
  const r = await waitUntil(
    async () => {
      const m = await trySend(dest);
      return /authorization/i.test(m) ? m : undefined;
    },
    'a send that says the credentials are refused',
    15_000,
  );
  assert.match(r, /credentials|user|password/i);
});
