// The installation id changes when the sequence space restarts or the data dir moves to another
// machine (gateway/upstream/installation-id.ts), seen from upstream. Records are named
// <installation>:<stream>:<seq> (NATS message ids) and <hour>/<gateway>-<installation>-<stream>-
// <firstSeq>-<lastSeq> (S3 keys): with the id kept, a store deleted as a "reset" numbered its new
// records 1, 2, 3 again under the old id, and JetStream dropped them as duplicates within its window
// (acknowledged, counted delivered, never stored) while S3 replaced the old objects with the new ones;
// a data dir copied to a second machine sent the same ids from both. Real in-process gateways, real
// mqtt.js publishers, real nats-server -js (Debian package nats-server) and s3rver; the second
// machine is a test double of the machine fingerprint (GatewayOptions.machineFingerprint: there is
// no second machine here).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, rename, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connect, type NatsConnection } from 'nats';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import type { MachineFingerprint } from '../../gateway/upstream/machine.js';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startNats, startS3rver } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');
const tarSkip = needBinary('tar', 'tar');
const run = (cmd: string, args: string[]): Promise<unknown> => promisify(execFile)(cmd, args);

const MACHINE_A: MachineFingerprint = { cpuSerial: 'aaaaaaaaaaaaaaa1', macs: ['aaaaaaaaaaaaaaa2'] };
const MACHINE_B: MachineFingerprint = { cpuSerial: 'bbbbbbbbbbbbbbb1', macs: ['bbbbbbbbbbbbbbb2'] };

/** A gateway config file in `dir` (data in dir/data) exporting the default `archive` stream to `destination`, one record per batch. */
async function configIn(dir: string, destination: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'g.yaml');
  const exporter = { name: 'up', stream: 'archive', batch: { maxRecords: 1, lingerMs: 0 }, destination };
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: [${JSON.stringify(exporter)}]\n`);
  return file;
}

async function start(t: TestContext, file: string, machine: MachineFingerprint = MACHINE_A): Promise<Gateway> {
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    ...testDeps(),
    version: 'test',
    machineFingerprint: async () => machine,
  });
  t.after(() => gw.stop());
  return gw;
}

/** Publish each payload QoS 1 (acknowledged: committed to the store), one after the other (seq order). */
async function publish(gw: Gateway, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  for (const p of payloads) await c.publishAsync('site/a/data', p, { qos: 1 });
  await c.endAsync();
}

async function overviewId(gw: Gateway): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/overview`);
  return ((await r.json()) as { installationId: string }).installationId;
}

/** Every message of the JetStream stream HUB: its data and Nats-Msg-Id. */
async function hub(nc: NatsConnection): Promise<Array<{ data: string; id: string }>> {
  const info = await (await nc.jetstreamManager()).streams.info('HUB');
  const consumer = await nc.jetstream().consumers.get('HUB');
  const out: Array<{ data: string; id: string }> = [];
  while (out.length < info.state.messages) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 100, expires: 2000 })) {
      got++;
      out.push({ data: m.string(), id: m.headers?.get('Nats-Msg-Id') ?? '' });
    }
    if (got === 0) break;
  }
  return out;
}

/** Waits until the gateway's exporter has delivered `n` records in all (its checkpoint). */
async function delivered(gw: Gateway, n: number): Promise<void> {
  await waitUntil(() => (gw.streams.info('archive').consumers.find((c) => c.name === 'up')?.checkpoint ?? 0) >= n || undefined, `${n} delivered`, 15_000, 20);
}

/** A nats-server -js, a connection of the test's to it, and a gateway config in a temp dir exporting to its stream HUB. */
async function natsSetup(t: TestContext): Promise<{ nc: NatsConnection; destination: Record<string, unknown>; dir: string; file: string }> {
  const peer = await startNats(t);
  const nc = await connect({ servers: peer.url });
  t.after(() => nc.close());
  const destination = { type: 'nats', servers: peer.url, stream: 'HUB', createStream: true, reconnectWaitMs: 100, ackTimeoutMs: 2000 };
  const dir = await tempDir(t);
  return { nc, destination, dir, file: await configIn(dir, destination) };
}

/** One run of the gateway on `file`: started, `payloads` published, `total` records delivered in all, stopped; its installation id. */
async function runOnce(t: TestContext, file: string, payloads: string[], total = payloads.length): Promise<string> {
  const gw = await start(t, file);
  const id = await overviewId(gw);
  await publish(gw, payloads);
  await delivered(gw, total);
  await gw.stop();
  return id;
}

test('nats: after <dataDir>/store is deleted, the new records (sequences from 1 again) are stored in JetStream, not dropped as duplicates', {
  skip,
}, async (t) => {
  const { nc, dir, file } = await natsSetup(t);
  const before = await runOnce(t, file, ['old-1', 'old-2', 'old-3']);
  assert.match(before, /^[0-9a-f]{16}$/);
  // The operator's "reset", within JetStream's duplicate window (2 min).
  await rm(join(dir, 'data', 'store'), { recursive: true });
  const second = await start(t, file);
  assert.equal(second.streams.info('archive').lastSeq, 0, 'the sequences restart');
  await publish(second, ['new-1', 'new-2', 'new-3']);
  await delivered(second, 3);
  const stored = await hub(nc);
  assert.deepEqual(
    stored.map((m) => m.data).sort(),
    ['new-1', 'new-2', 'new-3', 'old-1', 'old-2', 'old-3'],
    'the new records acknowledged as duplicates, never stored',
  );
  const after = await overviewId(second);
  assert.notEqual(after, before);
  assert.deepEqual(
    stored.map((m) => m.id).sort(),
    [...[1, 2, 3].map((s) => `${after}:archive:${s}`), ...[1, 2, 3].map((s) => `${before}:archive:${s}`)].sort(),
  );
});

test('nats: a data dir copied to a second machine: both gateways go on from the same sequences, and JetStream stores the records of both', {
  skip,
}, async (t) => {
  const { nc, destination, dir, file } = await natsSetup(t);
  await runOnce(t, file, ['a-1', 'a-2']); // on MACHINE_A
  // The SD card image, cloned after the gateway ran once, in a second box.
  const copy = await tempDir(t);
  await cp(join(dir, 'data'), join(copy, 'data'), { recursive: true });
  const copyFile = await configIn(copy, destination);
  const a = await start(t, file, MACHINE_A);
  const b = await start(t, copyFile, MACHINE_B);
  await publish(a, ['a-3', 'a-4']);
  await publish(b, ['b-3', 'b-4']);
  await Promise.all([delivered(a, 4), delivered(b, 4)]);
  assert.deepEqual((await hub(nc)).map((m) => m.data).sort(), ['a-1', 'a-2', 'a-3', 'a-4', 'b-3', 'b-4'], "the copy's records acknowledged as duplicates");
  assert.notEqual(await overviewId(b), await overviewId(a));
});

test('nats: a backup of the data dir put back on the same machine: the records numbered again from the backup sequences are stored in JetStream, not dropped as duplicates', {
  skip,
}, async (t) => {
  const { nc, dir, file } = await natsSetup(t);
  const before = await runOnce(t, file, ['old-1', 'old-2']);
  // The backup docs/upgrading.md describes: the gateway stopped, its data folder copied.
  const backup = await tempDir(t);
  await cp(join(dir, 'data'), join(backup, 'data'), { recursive: true });
  assert.equal(await runOnce(t, file, ['old-3', 'old-4'], 4), before, 'a restart keeps the id');
  // The restore: the live folder moved aside, the backup put back (same machine, same store id).
  await rename(join(dir, 'data'), join(dir, 'data.broken'));
  await cp(join(backup, 'data'), join(dir, 'data'), { recursive: true });
  const restored = await start(t, file);
  assert.equal(restored.streams.info('archive').lastSeq, 2, "the sequences went back to the backup's");
  await publish(restored, ['new-3', 'new-4']);
  await delivered(restored, 4);
  assert.deepEqual(
    (await hub(nc)).map((m) => m.data).sort(),
    ['new-3', 'new-4', 'old-1', 'old-2', 'old-3', 'old-4'],
    'the new records 3 and 4 acknowledged as duplicates of the old 3 and 4, never stored',
  );
  assert.notEqual(await overviewId(restored), before);
});

test('nats: a backup extracted over the live data dir (tar, the folder kept): the records numbered again from the backup sequences are stored in JetStream, not dropped as duplicates', {
  skip: skip || tarSkip,
}, async (t) => {
  const { nc, dir, file } = await natsSetup(t);
  const before = await runOnce(t, file, ['old-1', 'old-2']);
  // A backup as an operator makes one: the gateway stopped, the data folder archived with tar.
  const backup = join(await tempDir(t), 'data.tar');
  await run('tar', ['-C', join(dir, 'data'), '-cf', backup, '.']);
  assert.equal(await runOnce(t, file, ['old-3', 'old-4'], 4), before, 'a restart keeps the id');
  // One more restart: its open moves the log holding old-3 and old-4 into a table the backup's
  // MANIFEST does not name (the restored LevelDB deletes it), so the restore takes them back.
  await (await start(t, file)).stop();
  // The restore, extracted over the live folder's own files (the folder itself stays): the store's
  // files are the backup's again, LevelDB's LOCK among them.
  await run('tar', ['-C', join(dir, 'data'), '-xf', backup]);
  const restored = await start(t, file);
  const lastSeq = restored.streams.info('archive').lastSeq;
  assert.equal(lastSeq, 2, "the sequences went back to the backup's");
  await publish(restored, ['new-a', 'new-b']);
  await delivered(restored, lastSeq + 2);
  const stored = (await hub(nc)).map((m) => m.data);
  assert.ok(
    stored.includes('new-a') && stored.includes('new-b'),
    `the new records stored, not dropped as duplicates (stored: ${stored.sort().join(', ')}; the store went back to seq ${lastSeq})`,
  );
  assert.notEqual(await overviewId(restored), before);
});

test('s3: after <dataDir>/store is deleted, the new objects do not replace the old ones of the same hour', async (t) => {
  const peer = await startS3rver(t, ['archive']);
  const creds = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const admin = new S3Client({
    region: 'us-east-1',
    endpoint: peer.url,
    forcePathStyle: true,
    credentials: { ...creds },
    requestHandler: new NodeHttpHandler(),
  });
  t.after(() => admin.destroy());
  const dir = await tempDir(t);
  const file = await configIn(dir, { type: 's3', bucket: 'archive', endpoint: peer.url, forcePathStyle: true, ...creds });
  const objects = async (): Promise<Map<string, string>> => {
    const keys = ((await admin.send(new ListObjectsV2Command({ Bucket: 'archive' }))).Contents ?? []).map((c) => c.Key!);
    const out = new Map<string, string>();
    for (const Key of keys) out.set(Key, await (await admin.send(new GetObjectCommand({ Bucket: 'archive', Key }))).Body!.transformToString());
    return out;
  };
  await runOnce(t, file, ['"old-1"', '"old-2"']);
  const old = await objects();
  assert.equal(old.size, 2);
  await rm(join(dir, 'data', 'store'), { recursive: true });
  const second = await start(t, file);
  await publish(second, ['"new-1"', '"new-2"']);
  await delivered(second, 2);
  const now = await objects();
  // Objects of one record each, named ...-archive-1-1 and ...-archive-2-2 in both runs: with the
  // same installation id (and the same hour), the second run's replaced the first's.
  assert.equal(now.size, 4, [...now.keys()].join(' '));
  for (const [key, body] of old) assert.equal(now.get(key), body, `${key} replaced`);
  const bodies = [...now.values()].map((b) => (JSON.parse(b.trim()) as { payload: string }).payload).sort();
  assert.deepEqual(bodies, ['new-1', 'new-2', 'old-1', 'old-2']);
});
