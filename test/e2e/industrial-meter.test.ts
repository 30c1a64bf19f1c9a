// The worked example of docs/industrial.md, run as written through the real gateway (child
// process): docs/examples/meter.yaml + meter-rules.yaml, pointed at a jsmodbus server playing the
// meter and at kinesalite. The meter's registers arrive in Kinesis shaped by the rules; the source
// shows in /api/sources and /metrics; a write through the command topic changes a register; while
// the meter does not answer, nothing reading-less is stored. The doc's shell block is checked too:
// its admin URL, reply-before-write order and shown reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startKinesalite } from '../helpers/peers.js';
import { kinesisSink } from '../helpers/upstream-e2e.js';
import { repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { modbusTcpPeer } from '../helpers/industrial.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { adminOptionsSchema } from '../../gateway/config/schema.js';

/**
 * The shell block of the worked example in docs/industrial.md: the admin URL its curl uses, the
 * reply it shows, and whether it subscribes to the reply topic before the write (the reply is not
 * retained: a subscriber started after the write waits forever).
 */
async function docBlock(): Promise<{ apiUrl: string; reply: unknown; subscribesFirst: boolean }> {
  const md = await readFile(join(repoRoot, 'docs/industrial.md'), 'utf8');
  const start = md.indexOf('```sh\ngatehouse check-config docs/examples/meter.yaml');
  assert.ok(start >= 0, 'the worked example block');
  const lines = md.slice(start, md.indexOf('\n```\n', start)).split('\n');
  const apiUrl = /curl -s (\S+\/api\/sources)/.exec(lines.join('\n'))?.[1] ?? '';
  const reply = JSON.parse(lines.find((l) => l.startsWith('# {"id":"w1"'))?.slice(2) ?? 'null') as unknown;
  const pub = lines.findIndex((l) => /mosquitto_(pub|rr) .*-t plant\/cmd\/main-meter /.test(l));
  const sub = lines.findIndex(
    (l) => /mosquitto_sub .*-t plant\/cmd\/main-meter\/reply .*&/.test(l) || /mosquitto_rr .*-e plant\/cmd\/main-meter\/reply/.test(l),
  );
  return { apiUrl, reply, subscribesFirst: pub >= 0 && sub >= 0 && sub <= pub };
}

test('meter example: Modbus registers -> rule -> stream -> Kinesis; /api/sources, /metrics, command write', { timeout: 120_000 }, async (t) => {
  const meter = await modbusTcpPeer(t, 400);
  const f = (addr: number, v: number): void => void meter.input.writeFloatBE(v, addr * 2);
  f(0, 231.2);
  f(2, 229.8);
  f(4, 230.4);
  f(6, 4.5);
  f(8, 4.1);
  f(10, 3.9);
  f(12, 2875);
  f(70, 50.01);
  f(342, 1234.5);
  const k = await startKinesalite(t);
  const sink = await kinesisSink(t, k.url, 'plant-energy', 1);
  const dir = await tempDir(t, 'gatehouse-meter-e2e-');
  // The example as written, with only the addresses of this test's peers and a private data dir.
  let yaml = await readFile(join(repoRoot, 'docs/examples/meter.yaml'), 'utf8');
  yaml = yaml
    .replace(/^dataDir: \.\.\/\.\.\/gatehouse-data-meter\b.*$/m, `dataDir: ${JSON.stringify(join(dir, 'data'))}`)
    .replace('tcp: { host: 192.168.10.20, port: 502 }', `tcp: { host: 127.0.0.1, port: ${meter.port} }`)
    .replace(
      'destination: { type: kinesis, streamName: plant-energy, region: eu-west-1 }',
      `destination: { type: kinesis, streamName: plant-energy, region: eu-west-1, endpoint: ${JSON.stringify(k.url)}, accessKeyId: x, secretAccessKey: y }`,
    );
  assert.match(yaml, new RegExp(`port: ${meter.port}`));
  assert.doesNotMatch(yaml, /gatehouse-data/, "the example's data dir is replaced by the test's");
  // Plus one rule of this test: a rule action writes a register by republishing to the command topic.
  const rules = await readFile(join(repoRoot, 'docs/examples/meter-rules.yaml'), 'utf8');
  await writeFile(
    join(dir, 'meter-rules.yaml'),
    `${rules}
  - name: ct_from_ops
    sql: SELECT 'meter-1' AS device, 'ct_ratio' AS tag, ratio AS value, 'r1' AS id FROM 'ops/ct'
    actions:
      - republish: { topic: 'plant/cmd/main-meter' }
`,
  );
  const gw = await startGatewayProcess(await writeConfig(dir, yaml), [], 60_000);
  t.after(() => gw.kill9());

  const rows = async (): Promise<Record<string, unknown>[]> => {
    await sink.read().catch(() => undefined);
    return sink.raw.map((r) => JSON.parse(r.data.toString()) as Record<string, unknown>);
  };
  const power = await waitUntil(async () => (await rows()).find((r) => r.kw !== undefined), 'a power record in Kinesis', 30_000);
  assert.equal(power.meter, 'meter-1');
  assert.ok(Math.abs((power.kw as number) - 2.875) < 1e-6, JSON.stringify(power));
  // The float32 register as the meter shows it (docs/industrial.md), not 231.1999969482422.
  assert.equal(power.v1, 231.2);
  const energy = await waitUntil(async () => (await rows()).find((r) => r.kwh !== undefined), 'an energy record in Kinesis', 30_000);
  assert.equal(energy.kwh, 1234.5);
  assert.equal(sink.raw[0]!.key, 'meter-1', 'partition key is the meter');

  // The doc's curl names the default admin address; this gateway's admin port is a free one.
  const doc = await docBlock();
  const admin = adminOptionsSchema.parse({});
  assert.equal(doc.apiUrl, `http://${admin.host}:${admin.port}/api/sources`, 'the doc queries the default admin address');
  assert.ok(doc.subscribesFirst, 'the doc subscribes to the reply topic before the write');
  const api = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as {
    sources: { kind: string; name: string; state: string; details: { devices: { name: string; valuesPerSecond: number }[] } }[];
  };
  const src = api.sources.find((s) => s.name === 'main-meter');
  assert.equal(src?.kind, 'modbus');
  assert.equal(src?.state, 'running');
  assert.equal(src?.details.devices[0]?.name, 'meter-1');
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /gatehouse_industrial_values_total\{kind="modbus",source="main-meter",device="meter-1"\} \d+/);
  assert.match(metrics, /gatehouse_source_up\{kind="modbus",name="main-meter"\} 1/);

  // Downlink: write the CT ratio through the local broker; the reply carries the device's echo.
  const client = await mqtt.connectAsync(gw.mqttUrl);
  t.after(() => client.endAsync());
  await client.subscribeAsync('plant/cmd/main-meter/reply');
  const reply = new Promise<Record<string, unknown>>((resolve) =>
    client.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)),
  );
  await client.publishAsync('plant/cmd/main-meter', JSON.stringify({ id: 'w1', device: 'meter-1', tag: 'ct_ratio', value: 50 }));
  const r = await reply;
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r, doc.reply, 'the reply the doc shows');
  assert.equal(meter.holding.readUInt16BE(40), 50);
  const viaRule = new Promise<Record<string, unknown>>((resolve) =>
    client.on('message', (_t, p) => {
      const m = JSON.parse(p.toString()) as Record<string, unknown>;
      if (m.id === 'r1') resolve(m);
    }),
  );
  await client.publishAsync('ops/ct', JSON.stringify({ ratio: 75 }), { qos: 1 });
  assert.equal((await viaRule).ok, true);
  assert.equal(meter.holding.readUInt16BE(40), 75);

  // The meter stops answering: its polls still make messages (`values` empty, every tag in
  // `errors`), and the example stores readings only. Before, meter_power (no WHERE) stored
  // {"meter":"meter-1","ts":...} for each such poll, exported to Kinesis as if it were a reading.
  // The errors are the source's to show (/api/sources, `gatehouse sources`).
  type Device = { name: string; tagErrors: Record<string, string> };
  const meterDevice = async (): Promise<Device> => {
    const body = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as { sources: { name: string; details: { devices: Device[] } }[] };
    return body.sources.find((s) => s.name === 'main-meter')!.details.devices[0]!;
  };
  meter.silentUnits.add(1);
  // The voltage's request is the poll's first: its error means a poll that read nothing (a poll
  // already past it when the meter went silent fails at 'frequency' only).
  const down = await waitUntil(async () => (await meterDevice()).tagErrors.voltage_l1, 'a poll that read nothing', 30_000);
  assert.match(down, /timed out/);
  const seenDown = Date.now();
  meter.silentUnits.delete(1);
  // A poll commits before the next one starts: once a poll after the failed one is stored, so is
  // whatever the failed one stored.
  const stored = async (): Promise<Record<string, unknown>[]> => {
    const body = (await (await fetch(`${gw.adminUrl}/api/streams/energy/records?from=1&limit=1000`)).json()) as { records: { payload: string }[] };
    return body.records.map((r) => JSON.parse(r.payload) as Record<string, unknown>);
  };
  await waitUntil(
    async () => (await stored()).some((r) => r.kw !== undefined && (r.ts as number) > seenDown),
    'a power reading after the meter answers again',
    30_000,
  );
  const readingLess = (await stored()).filter((r) => r.kw === undefined && r.kwh === undefined);
  assert.deepEqual(readingLess, [], 'records of the energy stream without a reading (the polls while the meter was down)');
  assert.equal(await gw.stop(), 0);
});
