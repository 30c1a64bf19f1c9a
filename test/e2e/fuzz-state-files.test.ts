// Fuzz the broker's state files as the broker reads them at start (gateway/broker/state-journal.ts,
// retained-file.ts, v5/session-file.ts), for a bounded time with a deterministic, printed seed
// (FUZZ_SEED, FUZZ_MS override). Real files first: a real broker with MQTT 5 sessions (an expiry,
// subscriptions with identifiers, no local, a $share group, QoS 1/2 messages queued with
// properties) and retained messages with properties, copied while it runs (snapshot + journal, as
// a kill -9 leaves them) and after its stop (the final snapshot). Then, each case on a copy:
// bytes mutated (most of them make a line that does not parse: torn or corrupt), or records
// changed as JSON (a value of another type, a key dropped or with one bit of a letter flipped, a
// key added: a file that parses and still is not what the broker wrote).
//
// Asserts, for every case: the broker starts (a damaged file must never stop the gateway), a real
// MQTT 5 client resuming each session and real 3.1.1 and 5 subscribers to '#' (the retained
// messages) are served without a connection failing on a bug, a fresh client gets its PUBACK, and
// nothing is logged as an error but the state file's own GH_BROKER_STATE_FILE.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import { tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { capturingLogger, fuzzer, fuzzSettings } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 4000);
const f = fuzzer(SEED);
const { rnd, int, pick } = f;
const FILES = ['mqtt5-sessions.json', 'mqtt5-sessions.json.journal', 'mqtt-retained.json', 'mqtt-retained.json.journal'];
const SESSION_IDS = ['keeper-1', 'keeper-2', 'keeper-3'];

async function startBroker(dir: string, logger: ReturnType<typeof capturingLogger>['logger']): Promise<{ broker: Broker; url: string }> {
  const broker = await createBroker(
    { listeners: [{ host: '127.0.0.1', port: 0 }] },
    {
      logger,
      registry: new (await import('prom-client')).Registry(),
      onPublish: () => undefined,
      sessionFile: join(dir, FILES[0]!),
      retainedFile: join(dir, FILES[2]!),
    },
  );
  try {
    await withTimeout(broker.start(), 10_000, 'the broker start');
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return { broker, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

async function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/** A broker's state files as it leaves them: sessions with subscriptions and queues, retained messages with properties. */
async function makeStateFiles(t: TestContext, root: string): Promise<{ running: string; stopped: string }> {
  const dir = join(root, 'origin');
  const running = join(root, 'running');
  const stopped = join(root, 'stopped');
  await Promise.all([dir, running, stopped].map((d) => mkdir(d, { recursive: true })));
  const { logger } = capturingLogger();
  const { broker, url } = await startBroker(dir, logger);
  t.after(() => broker.stop());
  for (const [i, clientId] of SESSION_IDS.entries()) {
    const c = await connect(url, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } });
    await c.subscribeAsync({ 'cmd/#': { qos: 1, nl: i === 0, rap: i === 1, rh: i } }, { properties: { subscriptionIdentifier: i + 1 } });
    await c.subscribeAsync({ [`$share/g${i % 2}/cmd/+/x`]: { qos: 2 } });
    await c.endAsync();
  }
  const pub = await connect(url, { clientId: 'fleet', protocolVersion: 5 });
  for (let i = 0; i < 6; i++) {
    await pub.publishAsync(`status/dev${i}`, `online ${i}`, {
      qos: 1,
      retain: true,
      properties: {
        userProperties: { n: String(i) },
        contentType: 'text/plain',
        correlationData: Buffer.from([i]),
        ...(i % 2 ? { messageExpiryInterval: 3600 } : {}),
      },
    });
    await pub.publishAsync(`cmd/dev/${i % 2 ? 'x' : 'y'}`, `cmd ${i}`, {
      qos: (1 + (i % 2)) as 1 | 2,
      properties: { userProperties: { k: 'v' }, responseTopic: 'resp/1', payloadFormatIndicator: true, ...(i % 3 ? { messageExpiryInterval: 3600 } : {}) },
    });
  }
  await pub.endAsync();
  const journal = (): Promise<string> => readFile(join(dir, FILES[1]!), 'utf8').catch(() => '');
  await waitUntil(async () => (await journal()).split('"m":').length > 6, 'the session journal holds the queued messages', 5000, 20);
  await waitUntil(async () => (await readFile(join(dir, FILES[3]!), 'utf8').catch(() => '')).includes('status/dev5'), 'the retained journal', 5000, 20);
  for (const name of FILES) await copyFile(join(dir, name), join(running, name)).catch(() => undefined);
  await broker.stop();
  for (const name of FILES) await copyFile(join(dir, name), join(stopped, name)).catch(() => undefined);
  return { running, stopped };
}

/** One damaged copy: bytes mutated, or one to three records changed as JSON. */
function damage(text: string): string {
  if (rnd() < 0.3) return f.mutate(Buffer.from(text)).toString('latin1');
  const lines = text.split('\n');
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    const at = int(lines.length);
    try {
      lines[at] = JSON.stringify(f.mutateValue(JSON.parse(lines[at]!)));
    } catch {
      // an empty last line: left as it is
    }
  }
  return lines.join('\n');
}

test('fuzz broker state files: damaged session and retained files never stop the start; clients are served', { timeout: DURATION_MS + 120_000 }, async (t) => {
  console.log(`# fuzz-state-files seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const root = await tempDir(t, 'gatehouse-fuzz-state-');
  const origins = await makeStateFiles(t, root);
  const texts = new Map<string, Map<string, string>>();
  for (const [kind, d] of Object.entries(origins)) {
    const m = new Map<string, string>();
    for (const name of await readdir(d)) m.set(name, await readFile(join(d, name), 'utf8'));
    texts.set(kind, m);
  }
  assert.ok(texts.get('running')!.get(FILES[1]!)!.includes('"sub"'), 'the running copy has a session journal with subscriptions');

  let cases = 0;
  const deadline = Date.now() + DURATION_MS;
  const dir = join(root, 'case');
  while (Date.now() < deadline) {
    cases++;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const origin = texts.get(pick(['running', 'stopped']))!;
    const damaged = new Set([pick(FILES), ...(rnd() < 0.3 ? [pick(FILES)] : [])]);
    const written = new Map<string, string>();
    for (const [name, text] of origin) {
      const out = damaged.has(name) ? damage(text) : text;
      written.set(name, out);
      await writeFile(join(dir, name), out, 'latin1');
    }
    const { logger, lines } = capturingLogger();
    // the lines that differ from the origin's, to make the regression test from
    const what = (): string =>
      `case ${cases} (seed ${SEED}): ${[...damaged]
        .map((n) => {
          const before = new Set(origin.get(n)!.split('\n'));
          return `${n}:\n${written
            .get(n)!
            .split('\n')
            .filter((l) => !before.has(l))
            .join('\n')}`;
        })
        .join('\n')}`;
    let started: { broker: Broker; url: string };
    try {
      started = await startBroker(dir, logger);
    } catch (err) {
      assert.fail(`the broker did not start on a damaged state file: ${(err as Error).message}\n${what()}`);
    }
    const { broker, url } = started;
    const clients: MqttClient[] = [];
    try {
      const got: string[] = [];
      for (const clientId of SESSION_IDS) {
        const c = mqtt.connect(url, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
        clients.push(c);
        c.on('message', (topic) => got.push(topic));
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            c.once('connect', () => resolve());
            c.once('error', reject);
          }),
          5000,
          `${clientId} resuming its session`,
        );
      }
      for (const protocolVersion of [4, 5] as const) {
        const c = await connect(url, { clientId: `all-${protocolVersion}`, protocolVersion });
        clients.push(c);
        c.on('message', (topic) => got.push(topic));
        await c.subscribeAsync('#', { qos: 1 });
      }
      const pub = await connect(url, { clientId: 'after', protocolVersion: 5 });
      clients.push(pub);
      await withTimeout(pub.publishAsync('cmd/dev/x', 'after', { qos: 1 }), 5000, 'a PUBACK');
      // the message reaches the '#' subscribers: routing works after the load
      await waitUntil(() => got.filter((x) => x === 'cmd/dev/x').length >= 2, 'the fresh message delivered', 5000);
    } catch (err) {
      assert.fail(`${(err as Error).message}\n${what()}`);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await broker.stop();
    }
    const bad = lines.filter((l) => l.msg === 'MQTT 5 connection failed' || (Number(l.level) >= 50 && l.code !== 'GH_BROKER_STATE_FILE'));
    assert.deepEqual(
      bad.slice(0, 3).map((l) => `${String(l.msg)}: ${String(l.err)}`),
      [],
      `nothing failed but the state file's own problem\n${what()}`,
    );
  }
  console.log(`# fuzz-state-files cases tried: ${cases}`);
});
