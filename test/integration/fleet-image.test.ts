// A fleet flashed from one SD card image: one "golden" gateway runs once with traffic, stops, and
// its data dir (store, installation id) is copied to three more boxes, which start at once with
// the same config (gatewayId raspberrypi, the Pi OS host name every clone keeps). Real in-process
// gateways, real mqtt.js publishers, real mosquitto (the MQTT bridge's upstream), nats-server -js,
// s3rver, kinesalite and a Firehose HTTP endpoint receiver (test/helpers/firehose-receiver.ts). Each clone is another machine through a test double of its machine fingerprint
// (GatewayOptions.machineFingerprint: there is one machine here); the data dirs sit at different
// paths only because the clones share this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { connect, type NatsConnection } from 'nats';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisClient, CreateStreamCommand, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand } from '@aws-sdk/client-kinesis';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import type { Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { freePort, needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { machine, startSite, type Site } from '../helpers/fleet.js';
import { createMqttBridgeDestination, mqttBridgeOptionsSchema } from '../../gateway/upstream/destinations/mqtt.js';
import { startKinesalite, startMosquitto, startNats, startS3rver } from '../helpers/peers.js';

const skip = needBinary('mosquitto', 'mosquitto') ?? needBinary('nats-server', 'nats-server');
const S3_CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const EXPORTERS = ['up-mqtt', 'up-nats', 'up-s3', 'up-http', 'up-kinesis'];

async function publish(gw: Gateway, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  for (const p of payloads) await c.publishAsync('site/a/data', p, { qos: 1 });
  await c.endAsync();
}

async function delivered(gw: Gateway, n: number): Promise<void> {
  for (const name of EXPORTERS)
    await waitUntil(
      () => (gw.streams.info('archive').consumers.find((c) => c.name === name)?.checkpoint ?? 0) >= n || undefined,
      `${n} delivered by ${name}`,
      20_000,
      20,
    );
}

async function overviewId(gw: Gateway): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/overview`);
  return ((await r.json()) as { installationId: string }).installationId;
}

async function natsIds(nc: NatsConnection): Promise<Map<string, string>> {
  const info = await (await nc.jetstreamManager()).streams.info('HUB');
  const consumer = await nc.jetstream().consumers.get('HUB');
  const out = new Map<string, string>();
  while (out.size < info.state.messages) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 100, expires: 2000 })) {
      got++;
      out.set(m.string(), m.headers?.get('Nats-Msg-Id') ?? '');
    }
    if (got === 0) break;
  }
  return out;
}

test('a fleet from one SD card image: three clones of a gateway that ran once, on one config, deliver every record to mosquitto, JetStream, S3, a Firehose HTTP endpoint and Kinesis, each under its own client id and installation id, without taking the MQTT session from each other', {
  skip,
}, async (t) => {
  // mosquitto's own log, read for the connections each client id made (the gateway's 'upstream MQTT
  // connected' line is said at most once a minute after the first).
  const brokerLog = join(await tempDir(t), 'mosquitto.log');
  const broker = await startMosquitto(t, [`log_dest file ${brokerLog}`, 'log_type notice']);
  const nats = await startNats(t);
  const s3 = await startS3rver(t, ['fleet']);
  const kinesalite = await startKinesalite(t);
  const receiver = await startFirehoseReceiver();
  t.after(() => receiver.close());
  const kinesis = new KinesisClient({
    region: 'us-east-1',
    endpoint: kinesalite.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    requestHandler: new NodeHttpHandler(),
  });
  t.after(() => kinesis.destroy());
  await kinesis.send(new CreateStreamCommand({ StreamName: 'fleet', ShardCount: 1 }));
  await waitUntil(
    async () => (await kinesis.send(new DescribeStreamCommand({ StreamName: 'fleet' }))).StreamDescription?.StreamStatus === 'ACTIVE' || undefined,
    'kinesis stream active',
    10_000,
  );
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const s3c = new S3Client({
    region: 'us-east-1',
    endpoint: s3.url,
    forcePathStyle: true,
    credentials: { ...S3_CREDS },
    requestHandler: new NodeHttpHandler(),
  });
  t.after(() => s3c.destroy());
  // The upstream's reader: MQTT 5, to see the bridge's user properties.
  const seen: Array<{ payload: string; bridged: string | undefined; id: string | undefined }> = [];
  const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'office-reader', clean: true, reconnectPeriod: 0 });
  t.after(() => reader.endAsync());
  reader.on('message', (_topic, payload, packet) => {
    const up = packet.properties?.userProperties as Record<string, string> | undefined;
    seen.push({ payload: payload.toString(), bridged: up?.['gatehouse-bridged'], id: up?.['gatehouse-id'] });
  });
  await reader.subscribeAsync('up/#', { qos: 1 });

  // The operator's one config, as written once for the image.
  const batch = { maxRecords: 5, lingerMs: 0 };
  const exporters = [
    {
      name: 'up-mqtt',
      stream: 'archive',
      batch,
      destination: { type: 'mqtt', url: broker.url, clientId: 'gw-${installationId}', topics: [{ local: '#', remotePrefix: 'up/' }], reconnectMinMs: 100 },
    },
    { name: 'up-nats', stream: 'archive', batch, destination: { type: 'nats', servers: nats.url, stream: 'HUB', createStream: true, ackTimeoutMs: 2000 } },
    { name: 'up-s3', stream: 'archive', batch, destination: { type: 's3', bucket: 'fleet', endpoint: s3.url, forcePathStyle: true, ...S3_CREDS } },
    { name: 'up-http', stream: 'archive', batch, destination: { type: 'http', url: receiver.url } },
    {
      name: 'up-kinesis',
      stream: 'archive',
      batch,
      destination: { type: 'kinesis', streamName: 'fleet', region: 'us-east-1', endpoint: kinesalite.url, accessKeyId: 'x', secretAccessKey: 'y' },
    },
  ];
  const configIn = async (dir: string): Promise<string> => {
    const file = join(dir, 'gatehouse.yaml');
    await writeFile(file, `gatewayId: raspberrypi\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: ${JSON.stringify(exporters)}\n`);
    return file;
  };

  // The golden gateway, run once with traffic, then stopped and imaged.
  const golden = await tempDir(t);
  const goldenSite = await startSite(t, await configIn(golden), machine(1));
  await publish(goldenSite.gw, ['golden-1', 'golden-2']);
  await delivered(goldenSite.gw, 2);
  await goldenSite.gw.stop();

  const sites: Site[] = [];
  const dirs: string[] = [];
  for (let n = 2; n <= 4; n++) {
    const dir = await tempDir(t);
    await cp(join(golden, 'data'), join(dir, 'data'), { recursive: true });
    dirs.push(dir);
  }
  // Powered on together.
  sites.push(...(await Promise.all(dirs.map(async (dir, i) => startSite(t, await configIn(dir), machine(i + 2))))));
  const ids = await Promise.all(sites.map((s) => overviewId(s.gw)));
  assert.equal(new Set(ids).size, 3, `each clone makes its own installation id: ${ids.join(', ')}`);

  // Each clone's sensors, at once; every payload PUBACKed (in the store).
  await Promise.all(
    sites.map((s, i) =>
      publish(
        s.gw,
        Array.from({ length: 20 }, (_, k) => `clone${i}-${k}`),
      ),
    ),
  );
  // The clones go on from the golden one's sequences: 3..22.
  await Promise.all(sites.map((s) => delivered(s.gw, 22)));

  const expected = ['golden-1', 'golden-2', ...sites.flatMap((_, i) => Array.from({ length: 20 }, (_, k) => `clone${i}-${k}`))].sort();
  // mosquitto: every record, each telling its clone by the client id in gatehouse-bridged.
  await waitUntil(() => new Set(seen.map((m) => m.payload)).size >= expected.length || undefined, 'every record through mosquitto', 10_000);
  assert.deepEqual([...new Set(seen.map((m) => m.payload))].sort(), expected);
  for (const [i, id] of ids.entries()) {
    const mine = seen.filter((m) => m.payload.startsWith(`clone${i}-`));
    assert.deepEqual([...new Set(mine.map((m) => m.bridged))], [`gw-${id}`], `clone ${i}'s records name its client id`);
  }
  // One connection each, kept: no session taken over (with one client id each connect closed another's).
  // Counted at mosquitto: its 'New client connected from ... as <client id>' lines.
  const brokerConnects = (await readFile(brokerLog, 'utf8')).split('\n').filter((l) => /New client connected from .* as gw-/.test(l));
  for (const [i, s] of sites.entries()) {
    const mine = brokerConnects.filter((l) => l.includes(` as gw-${ids[i]} `));
    assert.equal(mine.length, 1, `clone ${i} connected ${mine.length} times:\n${brokerConnects.join('\n')}`);
    const connects = s.lines.filter((l) => l.msg === 'upstream MQTT connected');
    assert.deepEqual(
      connects.map((l) => l.clientId),
      [`gw-${ids[i]}`],
      `clone ${i} said ${connects.length} connects: ${connects.map((l) => l.clientId).join(', ')}`,
    );
  }
  // The golden gateway's one connection, and the three clones': no other (a takeover reconnects).
  assert.equal(brokerConnects.length, 4, brokerConnects.join('\n'));
  // gw-${installationId} is each board's own: no warning of a shared client id.
  for (const s of sites) assert.equal(s.lines.filter((l) => /names no board/.test(l.msg)).length, 0);
  // JetStream: every record, none dropped as a duplicate of another clone's (same sequences).
  const hub = await natsIds(nc);
  assert.deepEqual([...hub.keys()].sort(), expected);
  for (const [i, id] of ids.entries()) assert.equal(hub.get(`clone${i}-0`), `${id}:archive:3`);
  // S3: one object per batch of each clone, none replaced by another's of the same sequences.
  const keys = ((await s3c.send(new ListObjectsV2Command({ Bucket: 'fleet' }))).Contents ?? []).map((c) => c.Key!);
  const bodies: string[] = [];
  for (const Key of keys) {
    const text = await (await s3c.send(new GetObjectCommand({ Bucket: 'fleet', Key }))).Body!.transformToString();
    // (payloadFormat auto: text that is not JSON goes as payloadBase64)
    for (const line of text.trim().split('\n')) bodies.push(Buffer.from((JSON.parse(line) as { payloadBase64: string }).payloadBase64, 'base64').toString());
  }
  assert.deepEqual(bodies.sort(), expected);
  for (const id of ids)
    assert.ok(
      keys.some((k) => k.includes(`raspberrypi-${id}-archive-3-`)),
      `an object of ${id}: ${keys.join(' ')}`,
    );
  // The Firehose HTTP endpoint: every record (a batch's request id is random: no clone's taken for another's retry).
  assert.deepEqual([...new Set(receiver.accepted.flatMap((r) => r.records.map((b) => b.toString())))].sort(), expected);
  assert.equal(receiver.accepted.filter((r) => r.duplicate).length, 0);
  // Kinesis: every record.
  const shard = await kinesis.send(new DescribeStreamCommand({ StreamName: 'fleet' }));
  let iterator = (
    await kinesis.send(
      new GetShardIteratorCommand({ StreamName: 'fleet', ShardId: shard.StreamDescription!.Shards![0]!.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    )
  ).ShardIterator;
  const inKinesis = new Set<string>();
  await waitUntil(
    async () => {
      const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
      iterator = r.NextShardIterator;
      for (const rec of r.Records ?? []) inKinesis.add(Buffer.from(rec.Data!).toString());
      return inKinesis.size >= expected.length || undefined;
    },
    'every record in kinesalite',
    20_000,
    100,
  );
  assert.deepEqual([...inKinesis].sort(), expected);
});

test("a fleet from one SD card image on one control broker: each clone is told at start that its gatewayId (raspberrypi) is every clone's, with the fix; the office tells their status documents and heartbeats apart by the installation id", {
  skip,
}, async (t) => {
  // mosquitto's own log, read for the connections each client id made (the gateway's 'upstream MQTT
  // connected' line is said at most once a minute after the first).
  const brokerLog = join(await tempDir(t), 'mosquitto.log');
  const broker = await startMosquitto(t, [`log_dest file ${brokerLog}`, 'log_type notice']);
  const seen: Array<{ topic: string; installationId?: string; retained: boolean }> = [];
  const office = await mqtt.connectAsync(broker.url, { clientId: 'office', clean: true, reconnectPeriod: 0 });
  t.after(() => office.endAsync());
  office.on('message', (topic, payload, packet) => {
    seen.push({ topic, ...(JSON.parse(payload.toString()) as { installationId?: string }), retained: packet.retain });
  });
  await office.subscribeAsync('gatehouse/raspberrypi/#', { qos: 1 });
  // The operator's one config: the host name left as gatewayId's default (set here: this machine's is not raspberrypi).
  const configIn = async (dir: string): Promise<string> => {
    const file = join(dir, 'gatehouse.yaml');
    await writeFile(
      file,
      `gatewayId: raspberrypi\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol:\n  allowUnsigned: true\n  upstream: { url: '${broker.url}', reconnectMinMs: 200 }\njobs:\n  - { name: hb, schedule: '*/1 * * * * *', type: heartbeat }\n`,
    );
    return file;
  };
  const golden = await tempDir(t);
  const goldenSite = await startSite(t, await configIn(golden), machine(1));
  await waitUntil(() => seen.find((m) => m.topic.endsWith('/heartbeat')), "the golden gateway's heartbeat", 10_000);
  await goldenSite.gw.stop();
  const dirs: string[] = [];
  for (let n = 0; n < 2; n++) {
    const dir = await tempDir(t);
    await cp(join(golden, 'data'), join(dir, 'data'), { recursive: true });
    dirs.push(dir);
  }
  const sites = await Promise.all(dirs.map(async (dir, i) => startSite(t, await configIn(dir), machine(i + 2))));
  const ids = await Promise.all(sites.map((s) => overviewId(s.gw)));
  for (const s of sites) {
    const said = s.lines.find((l) => /is the host name an OS image gives every board/.test(l.msg));
    assert.ok(said, 'the clash is named at start');
    assert.equal(said.level, 40);
    assert.match(said.msg, /gatewayId 'raspberrypi'.*one retained status topic that each overwrites/);
    assert.match(said.fix ?? '', /hostnamectl set-hostname/);
  }
  // Both clones' status documents (published at each connect) and heartbeats reach the office under
  // one topic each; the installation id says whose each is.
  for (const kind of ['/rules/status', '/heartbeat'])
    for (const id of ids) await waitUntil(() => seen.find((m) => m.topic.endsWith(kind) && !m.retained && m.installationId === id), `${kind} of ${id}`, 30_000);
});

test('an MQTT bridge with a fixed clientId on a gateway named raspberrypi says at its start that every board flashed from the image shares it, with the fix', async (t) => {
  const lines: Site['lines'] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Site['lines'][number]) });
  // Nothing listens there: the warning comes before any connect.
  const dest = createMqttBridgeDestination(mqttBridgeOptionsSchema.parse({ url: `mqtt://127.0.0.1:${await freePort(t)}`, clientId: 'gateway-site1' }), {
    logger,
    registry: createMetricsRegistry('test', 'raspberrypi'),
    gatewayId: 'raspberrypi',
  });
  await dest.start();
  t.after(() => dest.stop());
  const said = lines.filter((l) => /names no board/.test(l.msg));
  assert.equal(said.length, 1);
  assert.equal(said[0]!.level, 40);
  assert.match(said[0]!.msg, /clientId 'gateway-site1' names no board: gateways made from one SD card image all connect with it/);
  assert.match(said[0]!.fix ?? '', /gw-\$\{installationId\}/);
});
