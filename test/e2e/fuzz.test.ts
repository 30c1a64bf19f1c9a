// Fuzz a running gateway (in-process: aedes broker, LevelDB store, rules, admin API, serial link)
// for a bounded time with a deterministic, printed seed (FUZZ_SEED, FUZZ_MS override):
//
// - MQTT: bytes of a real mqtt.js session (CONNECT, SUBSCRIBE, PUBLISH QoS 0/1/2, PINGREQ,
//   DISCONNECT) recorded through a TCP proxy, then bit-flipped, spliced, truncated, duplicated,
//   or plain random bytes, each on a fresh raw socket;
// - SQL: mutated and random statements into the rule compiler and PUT /api/rules;
// - serial: random and mutated frames into every framing decoder, and over a socat pty into a
//   configured serial link (skipped with a message when socat is missing);
// - config: mutated configuration documents into the config validator.
//
// Meanwhile a real device publishes QoS 1. Asserts: no crash (the test process is the gateway),
// no hang (a fresh client still gets a PUBACK), and every PUBACKed device message is in the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, open as openFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { loadConfig, validateConfig, parseConfigText } from '../../gateway/config/index.js';
import { configSchema } from '../../gateway/config/full-schema.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { compileSql } from '../../rules/index.js';
import { createFraming, crcEncode } from '../../firmware-bridge/framing/index.js';
import type { FramingOptions } from '../../firmware-bridge/options.js';
import { isGatehouseError } from '../../core/errors.js';
import { tempDir, testDeps, withTimeout } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { PINGREQ } from '../helpers/mqtt-raw.js';
import { mulberry32 } from '../helpers/prng.js';
import { recordClientBytes, startWitness, storedWitnessIds } from '../helpers/fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202) >>> 0;
const DURATION_MS = Number(process.env.FUZZ_MS ?? 30_000);

const rnd = mulberry32(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));

/** One mutation of a byte string (never longer than a few KiB). */
function mutate(src: Buffer): Buffer {
  const b = Buffer.from(src);
  switch (int(7)) {
    case 0: // flip bits
      for (let i = 0, n = 1 + int(8); i < n && b.length; i++) b[int(b.length)]! ^= 1 << int(8);
      return b;
    case 1: // insert random bytes
      {
        const at = int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), randomBytes(1 + int(16)), b.subarray(at)]);
      }
    case 2: // truncate
      return b.subarray(0, int(b.length + 1));
    case 3: // delete a range
      {
        const at = int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(16))]);
      }
    case 4: // duplicate a range
      {
        const at = int(b.length + 1);
        const len = 1 + int(64);
        return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
      }
    case 5: // set bytes to boundary values
      for (let i = 0, n = 1 + int(4); i < n && b.length; i++) b[int(b.length)] = pick([0, 0x7f, 0x80, 0xff, 0xc0, 0xfe]);
      return b;
    default:
      return randomBytes(int(256));
  }
}

/** Record the client->broker bytes of a real mqtt.js session through a TCP proxy. */
async function recordSession(port: number): Promise<Buffer> {
  const bytes = await recordClientBytes(port, async (proxyPort) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${proxyPort}`, {
      reconnectPeriod: 0,
      clientId: 'fuzz-rec',
      username: 'rec',
      password: 'pw',
      will: { topic: 'fuzz/will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await c.subscribeAsync(['fuzz/#', 'fuzz/+/x'], { qos: 1 });
    await c.publishAsync('fuzz/a', 'q0', { qos: 0 });
    await c.publishAsync('fuzz/b', '{"v":1}', { qos: 1 });
    await c.publishAsync('fuzz/c', Buffer.from([1, 2, 3]), { qos: 2 });
    await c.unsubscribeAsync('fuzz/+/x');
    await c.endAsync();
  });
  return Buffer.concat([bytes, PINGREQ]);
}

/** Send bytes on a fresh socket, half-close, wait (bounded) for the broker to close it. */
async function mqttCase(port: number, bytes: Buffer): Promise<void> {
  const s: Socket = netConnect(port, '127.0.0.1');
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  const closed = once(s, 'close').catch(() => undefined);
  s.on('connect', () => s.end(bytes));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 300).unref())]);
  s.destroy();
}

const SQL_SEEDS = [
  "SELECT * FROM 'data/#'",
  "SELECT temp, topic(2) AS dev FROM 'sensors/+/t' WHERE temp > 30 AND hum < 80",
  "SELECT avg(temp) FROM 'sensors/#' GROUP BY TUMBLINGWINDOW(ss, 10)",
  "SELECT CASE WHEN v > 1 THEN 'hi' ELSE 'lo' END AS lvl, timestamp() AS ts FROM 'x/#'",
  "SELECT get(arr, 0).name, concat(a, b) FROM 'a/b' WHERE NOT isUndefined(c)",
];
const SQL_TOKENS = [
  'SELECT',
  '*',
  'FROM',
  "'a/#'",
  'WHERE',
  'AND',
  'OR',
  '(',
  ')',
  ',',
  '.',
  'AS',
  'x',
  '1',
  '1e999',
  "'",
  '"',
  'CASE',
  'WHEN',
  'THEN',
  'END',
  'GROUP',
  'BY',
  '[',
  ']',
  '+',
  '-',
  '/',
  '%',
  '<>',
  '=',
  'NULL',
  'topic(',
  'abs(',
  '\u0000',
  '\uFFFF',
];

function randomSql(): string {
  if (rnd() < 0.5) {
    const s = pick(SQL_SEEDS);
    return mutate(Buffer.from(s)).toString('utf8');
  }
  return Array.from({ length: 1 + int(24) }, () => pick(SQL_TOKENS)).join(pick([' ', '', '  ']));
}

const BASE_CONFIG = {
  gatewayId: 'fz',
  dataDir: '/tmp/x',
  broker: { listeners: [{ host: '127.0.0.1', port: 1883 }], maxConnections: 10, authBackoff: { banMs: 1000 }, outbound: { maxQueueMessages: 10 } },
  streams: { archive: { maxBytes: '1MB' } },
  rules: { version: 1, rules: [{ name: 'r', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }] },
  serial: [{ name: 'l', path: '/dev/null', framing: { type: 'crc' }, codec: { type: 'json' } }],
  control: { groups: ['g'], publishers: ['ops'] },
};
const JUNK: unknown[] = [null, -1, 0, 1e308, NaN, '', 'x'.repeat(300), [], {}, true, [1, [2]], { __proto__: { a: 1 } }, '../../etc/passwd', 2 ** 53];

function mutateValue(v: unknown, depth = 0): unknown {
  if (depth > 4 || rnd() < 0.15) return pick(JUNK);
  if (Array.isArray(v)) return v.map((x) => (rnd() < 0.3 ? mutateValue(x, depth + 1) : x));
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const k of Object.keys(o)) if (rnd() < 0.3) o[k] = mutateValue(o[k], depth + 1);
    if (rnd() < 0.1) o[`junk${int(9)}`] = pick(JUNK);
    if (rnd() < 0.1) delete o[pick(Object.keys(o))];
    return o;
  }
  return rnd() < 0.5 ? pick(JUNK) : v;
}

const FRAMINGS: FramingOptions[] = [
  { type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 256 },
  { type: 'cobs', maxFrameBytes: 256 },
  { type: 'slip', maxFrameBytes: 256 },
  { type: 'crc', maxFrameBytes: 256 },
];

const WITNESS_RULE = { name: 'witness', sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: 'archive' } }] };

test('fuzz: mutated MQTT, SQL, serial bytes and config documents; no crash, no hang, no loss of acknowledged data', {
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const dir = await tempDir(t);
  const pty = socatSkip ? undefined : await startSocat(t);
  if (!pty) console.log(`# serial over a pty skipped: ${socatSkip}`);
  const serialYaml = pty
    ? `serial:\n  - { name: fz, path: ${JSON.stringify(pty.dev1)}, framing: { type: crc, maxFrameBytes: 512 }, codec: { type: json }, topic: 'serial/{link}' }\n`
    : '';
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: fz\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol: { allowUnsigned: true }\n${serialYaml}` +
      `rules: { version: 1, rules: [{ name: witness, sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'fz');
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const port = gw.broker.addresses()[0]!.port;
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const session = await recordSession(port);

  // The device: QoS 1 publishes for the whole run; every PUBACKed id must be stored.
  const witness = await startWitness(t, `mqtt://127.0.0.1:${port}`);

  const serialOut = pty ? await openFile(pty.dev0, 'w') : undefined;
  t.after(() => serialOut?.close());
  const counts = { mqtt: 0, sql: 0, adminPut: 0, config: 0, framing: 0, serialPty: 0 };
  let version = 1;
  const unexpected: string[] = [];
  /** [from, to) ranges of device ids acknowledged while a fuzzed rule set without the witness rule was active. */
  const excused: Array<[number, number]> = [];
  const deadline = Date.now() + DURATION_MS;
  while (Date.now() < deadline) {
    // MQTT: 8 cases at once
    await Promise.all(Array.from({ length: 8 }, () => mqttCase(port, rnd() < 0.9 ? mutate(session) : randomBytes(int(512)))));
    counts.mqtt += 8;

    for (let i = 0; i < 20; i++) {
      const sql = randomSql();
      try {
        compileSql(sql);
      } catch (err) {
        if (!isGatehouseError(err)) unexpected.push(`compileSql(${JSON.stringify(sql)}): ${(err as Error).stack}`);
      }
      counts.sql++;
    }

    // PUT /api/rules: the witness rule always stays, next to a fuzzed one (or a fuzzed body)
    const body =
      rnd() < 0.8
        ? JSON.stringify({ version: ++version, rules: [WITNESS_RULE, { name: 'f', sql: randomSql(), actions: [{ stream: { name: 'archive' } }] }] })
        : mutate(Buffer.from(JSON.stringify({ version: ++version, rules: [] }))).toString('latin1');
    const fromId = witness.acked.length;
    const res = await fetch(`${admin}/api/rules`, { method: 'PUT', body });
    if (res.status >= 500) unexpected.push(`PUT /api/rules -> ${res.status}: ${await res.text()}`);
    else await res.arrayBuffer();
    counts.adminPut++;
    if (res.ok && !body.includes('"witness"')) {
      // A mutated body that still was a valid rule set (e.g. `rules: []` with another version) was
      // applied: while it was active, the device's publishes legitimately derived nothing durable
      // and were acknowledged at once. Put the witness rule back (forced: the mutated version may
      // be higher) and excuse exactly the ids acknowledged in that window.
      const restore = await fetch(`${admin}/api/rules?force=1`, { method: 'PUT', body: JSON.stringify({ version: ++version, rules: [WITNESS_RULE] }) });
      assert.ok(restore.ok, `restoring the witness rule: ${restore.status} ${await restore.text()}`);
      excused.push([fromId, witness.acked.length + 1]);
    }

    for (let i = 0; i < 10; i++) {
      const doc =
        rnd() < 0.8
          ? mutateValue(BASE_CONFIG)
          : (() => {
              try {
                return parseConfigText(
                  mutate(Buffer.from('gatewayId: a\nbroker: { maxConnections: 5 }\nrules: { version: 1, rules: [] }\n')).toString('latin1'),
                  'fuzz.yaml',
                );
              } catch (err) {
                if (!isGatehouseError(err)) unexpected.push(`parseConfigText: ${(err as Error).stack}`);
                return undefined;
              }
            })();
      try {
        validateConfig(configSchema, doc, 'fuzz config');
      } catch (err) {
        if (!isGatehouseError(err)) unexpected.push(`validateConfig(${JSON.stringify(doc)?.slice(0, 300)}): ${(err as Error).stack}`);
      }
      counts.config++;
    }

    for (const f of FRAMINGS) {
      const framing = createFraming(f);
      const dec = framing.createDecoder(() => undefined);
      for (let i = 0; i < 5; i++) {
        const valid = framing.encode(Buffer.from(JSON.stringify({ t: int(100) })));
        try {
          dec.push(rnd() < 0.7 ? mutate(Buffer.concat([valid, valid])) : randomBytes(int(600)));
          if (rnd() < 0.2) dec.flush();
        } catch (err) {
          unexpected.push(`${f.type} decoder threw: ${(err as Error).stack}`);
        }
        if (dec.buffered > f.maxFrameBytes + 16) unexpected.push(`${f.type} decoder holds ${dec.buffered} bytes`);
        counts.framing++;
      }
    }

    if (serialOut) {
      const frame = crcEncode(Buffer.from(JSON.stringify({ deviceId: 'd', t: int(100) })));
      await serialOut.write(rnd() < 0.5 ? mutate(frame) : Buffer.concat([frame, randomBytes(int(64))]));
      counts.serialPty++;
    }
    if (unexpected.length) break;
  }
  await witness.stop();
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`# fuzz cases tried: ${total} ${JSON.stringify(counts)}; device messages PUBACKed: ${witness.acked.length}`);
  assert.deepEqual(unexpected.slice(0, 3), [], 'every refusal is a GatehouseError, decoders never throw');

  // No hang: a fresh client gets a PUBACK.
  const fresh = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: 'after-fuzz', connectTimeout: 5000 });
  t.after(() => fresh.endAsync(true));
  await withTimeout(fresh.publishAsync('witness/after', '{"id":-1}', { qos: 1 }), 5000, 'a PUBACK after the fuzz');

  // No loss: every PUBACKed device message is in the archive stream.
  const stored = await storedWitnessIds(gw.streams);
  const isExcused = (id: number): boolean => excused.some(([a, b]) => id >= a && id < b);
  const missing = witness.acked.filter((id) => !stored.has(id) && !isExcused(id));
  if (excused.length > 0)
    t.diagnostic(`${excused.length} fuzzed rule sets without the witness rule were applied; ${witness.acked.filter(isExcused).length} ids excused`);
  assert.equal(missing.length, 0, `PUBACKed but not stored: ${missing.slice(0, 10).join(', ')}`);
  assert.ok(witness.acked.length > 0, 'the device made progress during the fuzz');
});
