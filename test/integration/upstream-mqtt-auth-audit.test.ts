// MQTT bridge destination against a real mosquitto that requires a password: with a wrong one the
// broker refuses the CONNACK, and the bridge keeps reconnecting. What the exporter shows (the send
// error, its last error) must say that the broker refused the credentials and what to check, not
// only "not connected" with a hint about the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { TestContext } from 'node:test';
import { errorMessage } from '../../core/errors.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { freePort, needBinary, tempDir, testDeps, waitUntil, which } from '../helpers/index.js';

const skip = needBinary('mosquitto', 'mosquitto') ?? needBinary('mosquitto_passwd', 'mosquitto');

async function startPasswordMosquitto(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'gatehouse-mosq-auth-');
  const port = await freePort(t);
  await writeFile(join(dir, 'pw'), '');
  execFileSync(which('mosquitto_passwd')!, ['-b', join(dir, 'pw'), 'gw', 'right']);
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${join(dir, 'pw')}\nuser ${userInfo().username}\n`);
  const child = spawn(which('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return `mqtt://127.0.0.1:${port}`;
}

let seq = 0;
async function trySend(dest: Destination): Promise<string> {
  try {
    const [r] = await dest.send(
      [{ stream: 'up', seq: ++seq, topic: 'dev/d1/data', receivedAt: Date.now(), payload: Buffer.from('x') }],
      new AbortController().signal,
    );
    return r?.ok ? 'ok' : (r?.error ?? 'no result');
  } catch (err) {
    return errorMessage(err);
  }
}

async function startDest(t: TestContext, url: string, password: string): Promise<Destination> {
  const dest = createMqttBridgeDestination(
    mqttBridgeOptionsSchema.parse({ url, clientId: `gh-audit-${password}`, username: 'gw', password, reconnectMinMs: 100, reconnectMaxMs: 500 }),
    testDeps(),
  );
  await dest.start();
  t.after(() => dest.stop());
  return dest;
}

test('mqtt bridge with a wrong password: the send error says the broker refused the credentials and what to check', { skip, timeout: 30_000 }, async (t) => {
  const url = await startPasswordMosquitto(t);
  const good = await startDest(t, url, 'right');
  await waitUntil(async () => (await trySend(good)) === 'ok', 'the right password delivers', 10_000);

  const bad = await startDest(t, url, 'wrong');
  const msg = await waitUntil(
    async () => {
      const m = await trySend(bad);
      return /not authori[sz]ed/i.test(m) ? m : undefined;
    },
    'a send error naming the refusal',
    10_000,
  );
  assert.match(msg, /Fix: .*(username|password)/, `the hint names the credentials: ${msg}`);
});
