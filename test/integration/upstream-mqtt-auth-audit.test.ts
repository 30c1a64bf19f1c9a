// MQTT bridge destination against a real mosquitto that requires a password: with a wrong one the
// broker refuses the CONNACK, and the bridge keeps reconnecting. What the exporter shows (the send
// error, its last error) must say that the broker refused the credentials and what to check, not
// only "not connected" with a hint about the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { TestContext } from 'node:test';
import { errorMessage } from '../../core/errors.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { freePort, needBinary, tempDir, testDeps, waitUntil, which } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';

const skip = needBinary('mosquitto', 'mosquitto') ?? needBinary('mosquitto_passwd', 'mosquitto');

/** mosquitto requiring gw/right; `log`: its log file (a line per connection it accepted). */
async function startPasswordMosquitto(t: TestContext, log?: string): Promise<string> {
  const dir = await tempDir(t, 'gatehouse-mosq-auth-');
  const port = await freePort(t);
  await writeFile(join(dir, 'pw'), '');
  execFileSync(which('mosquitto_passwd')!, ['-b', join(dir, 'pw'), 'gw', 'right']);
  const conf = join(dir, 'm.conf');
  const logging = log ? `log_dest file ${log}\nlog_type all\n` : '';
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${join(dir, 'pw')}\nuser ${userInfo().username}\n${logging}`);
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

async function startDest(t: TestContext, url: string, password: string, deps = testDeps(), reconnectMaxMs = 500): Promise<Destination> {
  const dest = createMqttBridgeDestination(
    mqttBridgeOptionsSchema.parse({ url, clientId: `gh-audit-${password}`, username: 'gw', password, reconnectMinMs: 50, reconnectMaxMs }),
    deps,
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

test('mqtt bridge refused at every reconnect: its error is one warning a minute, not a line per attempt', { skip, timeout: 30_000 }, async (t) => {
  // Each failed reconnect logged 'upstream MQTT error': ~240 lines an hour for a broker down or a
  // password changed at the other end, for as long as it lasted (round 32).
  const dir = await tempDir(t, 'gatehouse-mosq-log-');
  const mosquittoLog = join(dir, 'mosquitto.log');
  const url = await startPasswordMosquitto(t, mosquittoLog);
  const { logger, lines } = capturedLogger();
  await startDest(t, url, 'wrong', { ...testDeps(), logger }, 100);
  const attempts = async (): Promise<number> => ((await readFile(mosquittoLog, 'utf8').catch(() => '')).match(/New connection from/g) ?? []).length;
  await waitUntil(async () => (await attempts()) >= 6, 'six connection attempts refused by mosquitto', 20_000, 20);
  // (a connect refused before mosquitto listens is another error, logged at once: not counted)
  const errors = lines.filter((l) => l.msg === 'upstream MQTT error' && /not authori[sz]ed/i.test(String((l as { err?: unknown }).err)));
  assert.equal(errors.length, 1, `${await attempts()} refused attempts, one line: ${JSON.stringify(errors)}`);
});
