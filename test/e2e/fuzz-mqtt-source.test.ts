// Fuzz the MQTT source (gateway/pipeline/sources/mqtt/: subscriptions on a remote broker) of a
// running gateway (in-process) through a real mosquitto, for a bounded time with a deterministic,
// printed seed (FUZZ_SEED, FUZZ_MS override). Two sources subscribe to site/# (MQTT 5 and 3.1.1)
// while a hostile client publishes, at QoS 0, 1 and 2 and sometimes retained: huge payloads (over
// and under maxMessageBytes), binary and invalid UTF-8, deeply nested JSON, __proto__ and
// constructor keys, numbers out of range, duplicate keys, good JSON mutated as bytes and as a
// value, long and deep topics, MQTT 5 properties (user properties named __proto__, content types,
// correlation data, expiry). Meanwhile a good client publishes {"good": i} at QoS 1; rules read
// fields of every message (SELECT *, a WHERE on a field, a nested field, topic()).
//
// Asserts: no crash (the test process is the gateway), every good message mosquitto PUBACKed is
// stored by both sources (the source's at-least-once promise, docs/mqtt-source.md), the bad ones
// counted, both sources connected after the fuzz, nothing logged as an error, the heap after GC bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { metricValue, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { capturingLogger, fuzzer, fuzzSettings, heapAfterGc } from '../helpers/fuzz.js';

const skip = needBinary('mosquitto', 'mosquitto');
const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261209, 3000);
const f = fuzzer(SEED);
const { rnd, int, pick } = f;

const GOOD = JSON.stringify({ good: 0, temp: 21.5, a: { b: { c: 'x' } } });

function deep(n: number, open: string, close: string, inner = '1'): string {
  return open.repeat(n) + inner + close.repeat(n);
}

const PAYLOADS: Array<() => Buffer | string> = [
  () => Buffer.alloc(300 * 1024, 0x41), // over maxMessageBytes (256 KiB)
  () => `{"temp":50,"big":"${'x'.repeat(200 * 1024)}"}`,
  () => f.randomBytes(int(2000)),
  () => Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x7b, 0x22]),
  () => Buffer.concat([Buffer.from('{"temp":'), Buffer.from([0xc3, 0x28]), Buffer.from('}')]),
  () => deep(pick([100, 1000, 10_000, 100_000]), '[', ']'),
  () => deep(pick([100, 1000, 10_000, 100_000]), '{"a":', '}'),
  () => `{"temp":99,"a":${deep(pick([1000, 50_000]), '{"b":', '}')}}`,
  () => '{"__proto__":{"polluted":1,"temp":99},"temp":50}',
  () => '{"constructor":{"prototype":{"polluted":1}},"temp":60}',
  () => '{"a":{"__proto__":{"b":{"c":"polluted"}}},"temp":70}',
  () => '{"toString":1,"valueOf":"x","hasOwnProperty":null,"temp":80}',
  () =>
    `{"temp":${pick(['1e400', '-1e400', '-0', '18446744073709551616', '123456789012345678901234567890', '1e-400', '0.1e999', 'NaN', 'Infinity', '"20"', 'true', 'null', '[]', '{}'])}}`,
  () => '{"temp":1,"temp":99,"temp":{"x":1}}',
  () => '',
  () => 'null',
  () => `"${'\\u0000'.repeat(100)}"`,
  () => '\ufeff{"temp":30}',
  () => f.mutate(Buffer.from(GOOD)),
  () => JSON.stringify(f.mutateValue(JSON.parse(GOOD))) ?? 'null',
  () => `[${Array.from({ length: 20_000 }, () => '{"temp":1}').join(',')}]`,
];

function topic(): string {
  switch (int(8)) {
    case 0:
      return `site/${'l/'.repeat(int(400))}x`;
    case 1:
      return `site/${'t'.repeat(int(60_000))}`;
    case 2:
      return `site/\u00e9\u4e2d\u{1f600}/${int(9)}`;
    case 3:
      return 'site//';
    case 4:
      return `site/${pick(['__proto__', 'constructor', 'prototype', 'toString', '$SYS', ' ', '\t'])}`;
    default:
      return `site/bad/${int(5)}`;
  }
}

function properties(): IClientPublishOptions['properties'] {
  if (rnd() < 0.5) return undefined;
  const p: NonNullable<IClientPublishOptions['properties']> = {};
  if (rnd() < 0.4)
    p.userProperties = JSON.parse(pick(['{"__proto__":"x"}', '{"constructor":"y","gatehouse-bridged":"source:v5"}', '{"a":"b"}'])) as Record<string, string>;
  if (rnd() < 0.3) p.contentType = pick(['application/json', '', 'x'.repeat(5000), '\u0000']);
  if (rnd() < 0.3) p.correlationData = f.randomBytes(int(100));
  if (rnd() < 0.2) p.responseTopic = pick(['reply/here', 'x'.repeat(1000)]);
  if (rnd() < 0.2) p.messageExpiryInterval = pick([0, 1, 2 ** 32 - 1]);
  if (rnd() < 0.1) p.payloadFormatIndicator = true;
  return p;
}

/** A publisher that makes a new connection when mosquitto drops it (a property or payload it refuses). */
async function hostileClient(url: string): Promise<{ publish(): Promise<void>; end(): Promise<void>; readonly connects: number }> {
  let c: MqttClient | undefined;
  let connects = 0;
  const client = async (): Promise<MqttClient> => {
    if (c?.connected) return c;
    c?.end(true);
    connects++;
    c = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `hostile-${int(1e9)}`, reconnectPeriod: 0 });
    c.on('error', () => undefined);
    return c;
  };
  return {
    async publish() {
      const cl = await client();
      const payload = pick(PAYLOADS)();
      const opts: IClientPublishOptions = { qos: pick([0, 1, 1, 2] as const), retain: rnd() < 0.05 };
      const props = properties();
      if (props) opts.properties = props;
      // A publish mosquitto refuses (or a connection it drops) is the fuzz's, not the test's, failure.
      await Promise.race([cl.publishAsync(topic(), payload, opts).catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
    },
    async end() {
      await c?.endAsync(true).catch(() => undefined);
    },
    get connects() {
      return connects;
    },
  };
}

test(`fuzz MQTT source: hostile payloads, topics and properties on the remote broker beside good QoS 1 messages (seed ${SEED})`, {
  skip,
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz-mqtt-source seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const broker = await startMosquitto(t);
  const dir = await tempDir(t, 'gatehouse-fuzz-mqtt-source-');
  const { logger, lines } = capturingLogger();
  const registry = createMetricsRegistry('test', 'fuzz-mqtt-source');
  const sources = [
    {
      type: 'mqtt',
      name: 'v5',
      url: broker.url,
      clientId: 'fz-v5',
      protocolVersion: 5,
      reconnectMinMs: 50,
      reconnectMaxMs: 500,
      topics: [{ filter: 'site/#' }],
    },
    {
      type: 'mqtt',
      name: 'v4',
      url: broker.url,
      clientId: 'fz-v4',
      reconnectMinMs: 50,
      reconnectMaxMs: 500,
      topics: [{ filter: 'site/#', localPrefix: 'v4/' }],
    },
  ];
  const rules = {
    version: 1,
    rules: [
      { name: 'all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] },
      { name: 'fields', sql: "SELECT temp, a.b.c AS deep, topic(2) AS t FROM '#' WHERE temp > 10", actions: [{ stream: { name: 'hot' } }] },
    ],
  };
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    `gatewayId: fzm\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nstreams: { archive: {}, hot: {} }\nsources: ${JSON.stringify(sources)}\nrules: ${JSON.stringify(rules)}\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger, registry, version: 'test' });
  t.after(() => gw.stop());
  const connected = (): boolean =>
    gw.sources
      .status()
      .filter((s) => s.name === 'v5' || s.name === 'v4')
      .every((s) => s.state === 'connected');
  await waitUntil(connected, 'both sources connected', 15_000).catch((e: unknown) => {
    console.log(JSON.stringify(gw.sources.status()).slice(0, 3000), JSON.stringify(lines.slice(0, 5)).slice(0, 2000));
    throw e;
  });
  // (the subscriptions: a first good message stored by both)
  const good = await mqtt.connectAsync(broker.url, { clientId: 'good-device', reconnectPeriod: 0 });
  t.after(() => good.endAsync(true));
  const storedGood = async (): Promise<{ v5: Set<number>; v4: Set<number> }> => {
    const out = { v5: new Set<number>(), v4: new Set<number>() };
    for (let from = 1; ; ) {
      const recs = await gw.streams.read('archive', from, { limit: 500, maxBytes: 64 * 1024 * 1024 });
      if (recs.length === 0) return out;
      for (const r of recs) {
        if (!/^(v4\/)?site\/good\//.test(r.topic)) continue;
        const id = (JSON.parse(r.payload.toString()) as { good: number }).good;
        (r.topic.startsWith('v4/') ? out.v4 : out.v5).add(id);
      }
      from = recs[recs.length - 1]!.seq + 1;
    }
  };
  await good.publishAsync('site/good/0', JSON.stringify({ good: -1, temp: 20 }), { qos: 1 });
  await waitUntil(
    async () => {
      const s = await storedGood();
      return s.v5.has(-1) && s.v4.has(-1);
    },
    'the first good message stored by both sources',
    15_000,
  );

  const heap0 = heapAfterGc();
  const hostile = await hostileClient(broker.url);
  const acked: number[] = [];
  const deadline = Date.now() + DURATION_MS;
  let hostiles = 0;
  const goodLoop = (async () => {
    for (let i = 0; Date.now() < deadline; i++) {
      await good.publishAsync(`site/good/${i % 3}`, JSON.stringify({ good: i, temp: 20 + (i % 5), a: { b: { c: i } } }), { qos: 1 });
      acked.push(i);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  while (Date.now() < deadline) {
    await hostile.publish();
    hostiles++;
  }
  await goodLoop;
  await hostile.end();
  console.log(`# fuzz-mqtt-source: ${hostiles} hostile publishes on ${hostile.connects} connections, ${acked.length} good ones PUBACKed by mosquitto`);

  await waitUntil(
    async () => {
      const s = await storedGood();
      return acked.every((id) => s.v5.has(id) && s.v4.has(id));
    },
    'every good message PUBACKed stored by both sources',
    30_000,
    100,
  ).catch(async (err: unknown) => {
    const s = await storedGood();
    const missing = { v5: acked.filter((id) => !s.v5.has(id)).slice(0, 10), v4: acked.filter((id) => !s.v4.has(id)).slice(0, 10) };
    console.log(`# missing ${JSON.stringify(missing)}; status ${JSON.stringify(gw.sources.status())}; log ${JSON.stringify(lines.slice(-5)).slice(0, 3000)}`);
    throw err;
  });
  await waitUntil(connected, 'both sources connected after the fuzz', 15_000);
  const dropped = await metricValue(registry, 'gatehouse_mqtt_source_messages_dropped_total');
  assert.ok(dropped > 0, 'the messages over maxMessageBytes (and such) were dropped and counted');
  const errors = lines.filter((l) => Number(l.level) >= 50);
  assert.deepEqual(errors.slice(0, 3), [], 'nothing logged as an error');
  const heapGrowth = heapAfterGc() - heap0;
  const counts = gw.sources
    .status()
    .filter((s) => s.name === 'v5' || s.name === 'v4')
    .map((s) => ({ name: s.name, ...s.details, subscriptions: undefined, url: undefined }));
  console.log(`# fuzz-mqtt-source: dropped ${dropped}, ${lines.length} log lines, heap +${Math.round(heapGrowth / 1024)} KiB; ${JSON.stringify(counts)}`);
  assert.ok(heapGrowth < 64 * 1024 * 1024, `heap after GC grew ${heapGrowth} bytes`);
  assert.ok(acked.length > 0 && hostiles > 0);
});
