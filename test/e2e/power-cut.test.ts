// A power cut, not a kill -9 (test/helpers/power-cut.ts): the gateway CLI in a child process with
// the default configuration (the archive rule, durability fsync, the gzipped NDJSON file exporter),
// its data directory on an ext4 loop disk, real mqtt.js publishers at QoS 1 (MQTT 3.1.1 and 5). At a moment in full
// flow the disk is copied as a power cut leaves it (nothing the kernel had not written yet), and the
// copy is read as the next boot would find it: every message that got a PUBACK must be in the local
// stream or in an exported file. kill -9 cannot test this: the page cache survives it.
// The control test runs the same with `durability: os` (PUBACK after the write, before any fsync)
// and no exporter, and must find acknowledged messages lost: a harness that finds nothing there
// would prove nothing.
// Needs root (loop device, mount): skipped otherwise with the reason.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { constants, gunzipSync } from 'node:zlib';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { openLocalStreams } from '../../gateway/store/index.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { cutPower, loopDisk, powerCutSkip, type LoopDisk } from '../helpers/power-cut.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';

const skip = powerCutSkip();
const PUBLISHERS = 4;
/** QoS 1 publishes each publisher keeps in flight. */
const WINDOW = 16;

interface Flow {
  acked: Set<string>;
  stop(): Promise<void>;
}

/** PUBLISHERS clients (3.1.1 and 5) publishing {r: tag, c, i} at QoS 1 as fast as PUBACKs come back, WINDOW in flight each. */
async function publish(url: string, tag: string): Promise<Flow> {
  const acked = new Set<string>();
  const clients = await Promise.all(
    // Half MQTT 3.1.1 (aedes' publish path), half MQTT 5 (the gateway's own): each acknowledges after its own code.
    Array.from({ length: PUBLISHERS }, (_, c) =>
      mqtt.connectAsync(url, { clientId: `cut-${tag}-${c}`, reconnectPeriod: 0, clean: true, protocolVersion: c % 2 === 0 ? 4 : 5 }),
    ),
  );
  let stopped = false;
  clients.forEach((client, c) => {
    let i = 0;
    const next = (): void => {
      if (stopped || !client.connected) return;
      const n = i++;
      client.publish(`plant/line${c}/reading`, JSON.stringify({ r: tag, c, i: n, temp: 20 + (n % 7) }), { qos: 1 }, (err) => {
        if (err) return; // no PUBACK: not acknowledged (the cut stopped the gateway)
        acked.add(`${tag}/${c}:${n}`);
        next();
      });
    };
    for (let k = 0; k < WINDOW; k++) next();
  });
  return {
    acked,
    async stop() {
      stopped = true;
      for (const c of clients) c.end(true);
    },
  };
}

type Payload = Record<string, unknown>;
/** Run tag, publisher, index: unique over every run of a test. */
const publishKey = (p: Payload): string => `${String(p.r)}/${String(p.c)}:${String(p.i)}`;

interface Held {
  held: Set<string>;
  inStream: number;
  exported: number;
  tornLines: number;
}

/**
 * Add the key of every payload in the export files under dataDir/export to `into`. A file cut in
 * the middle of its last gzip member is read as far as it decodes (that batch was not
 * checkpointed, so its records are also in the stream, or were never acknowledged).
 */
async function readExports(dataDir: string, key: (p: Payload) => string, into: Held): Promise<void> {
  const files = await readdir(join(dataDir, 'export'), { recursive: true, withFileTypes: true }).catch(() => []);
  for (const f of files) {
    if (!f.isFile()) continue;
    const text = gunzipSync(await readFile(join(f.parentPath, f.name)), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        into.held.add(key((JSON.parse(line) as { payload: Payload }).payload));
        into.exported++;
      } catch {
        into.tornLines++;
      }
    }
  }
}

/** What the disk holds after the cut, read with the store opened on it (no gateway): the archive stream, then the export files. */
async function onDisk(dataDir: string, key: (p: Payload) => string = publishKey): Promise<Held> {
  const found: Held = { held: new Set(), inStream: 0, exported: 0, tornLines: 0 };
  const streams = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  try {
    // As the gateway's config defines it (the default archive stream).
    await streams.defineStream({ name: 'archive', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
    for (let from = 1; ; ) {
      const recs = await streams.read('archive', from, { limit: 1000 });
      if (recs.length === 0) break;
      for (const r of recs) found.held.add(key(JSON.parse(r.payload.toString('utf8')) as Payload));
      found.inStream += recs.length;
      from = recs[recs.length - 1]!.seq + 1;
    }
  } finally {
    await streams.close();
  }
  await readExports(dataDir, key, found);
  return found;
}

/**
 * What the disk holds, read through a gateway started on it (its own recovery from the cut): the
 * stream's records from the admin API, then the export files. Records the exporter moves from the
 * stream to a file meanwhile are in the file by the time it is read (a record leaves the stream
 * only once its file is fsynced).
 */
async function throughGateway(gw: GatewayProcess, dataDir: string): Promise<Held> {
  const found: Held = { held: new Set(), inStream: 0, exported: 0, tornLines: 0 };
  for (let from = 1; ; ) {
    const res = await fetch(`${gw.adminUrl}/api/streams/archive/records?from=${from}&limit=1000`);
    const page = (await res.json()) as { records: Array<{ payload: string }>; next: number };
    assert.equal(res.status, 200, JSON.stringify(page));
    if (page.records.length === 0) break;
    for (const r of page.records) found.held.add(publishKey(JSON.parse(r.payload) as Payload));
    found.inStream += page.records.length;
    from = page.next;
  }
  await readExports(dataDir, publishKey, found);
  return found;
}

/** The gateway on `disk` (config written there, data in disk/data), its options as YAML lines. */
async function gatewayOn(t: TestContext, disk: LoopDisk, yaml = ''): Promise<GatewayProcess> {
  const config = await writeConfig(disk.dir, `dataDir: ${JSON.stringify(join(disk.dir, 'data'))}\nlog: { level: info }\n${yaml}`);
  const gw = await startGatewayProcess(config, [], 60_000);
  t.after(() => gw.kill9());
  return gw;
}

/** Publish through gw until `ackedBefore` PUBACKs, then cut the power: the PUBACKs got and the disk after the cut (mounted). */
async function publishThenCut(t: TestContext, gw: GatewayProcess, disk: LoopDisk, ackedBefore: number, tag: string) {
  const flow = await publish(gw.mqttUrl, tag);
  t.after(() => flow.stop());
  await waitUntil(() => flow.acked.size >= ackedBefore, `${ackedBefore} PUBACKs`, 60_000);
  const after = await cutPower(t, disk, gw.proc.pid!);
  // Taken before the gateway is killed: nothing it does after the cut reaches the copy anyway.
  const acked = new Set(flow.acked);
  await gw.kill9();
  await flow.stop();
  return { acked, after };
}

test('three power cuts in full flow (durability fsync, default config), each restart on the disk the last one left: every message that got a PUBACK in any of them is on the disk, in the stream or an exported file', {
  skip,
  timeout: 240_000,
}, async (t) => {
  let disk = await loopDisk(t, 128);
  const ackedAll = new Set<string>();
  const cuts = [3_000, 12_000, 5_000];
  for (let cut = 0; cut <= cuts.length; cut++) {
    // The gateway recovers from what the last cut left (its LevelDB log replay, the exporter's
    // checkpoint, torn export files) and is read through: nothing acknowledged before is missing.
    const gw = await gatewayOn(t, disk);
    if (cut > 0) {
      const found = await throughGateway(gw, join(disk.dir, 'data'));
      const missing = [...ackedAll].filter((k) => !found.held.has(k));
      t.diagnostic(
        `after cut ${cut}: ${ackedAll.size} acknowledged so far, on disk ${found.held.size} (stream ${found.inStream}, exported ${found.exported}, torn lines ${found.tornLines}), missing ${missing.length}`,
      );
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${ackedAll.size} acknowledged messages are not on the disk after power cut ${cut}`);
    }
    if (cut === cuts.length) {
      await gw.kill9();
      break;
    }
    const { acked, after } = await publishThenCut(t, gw, disk, cuts[cut]!, `run${cut}`);
    assert.ok(acked.size >= cuts[cut]!);
    for (const k of acked) ackedAll.add(k);
    disk = after;
  }
});

test('control: with durability os (PUBACK before the fsync) the same power cut loses acknowledged messages, so the harness can see a loss', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const disk = await loopDisk(t, 128);
  // Everything kept in the store (no exporter): the exporter fsyncs its files whatever the store's
  // durability, and a cut just after it caught up would leave nothing unsynced to lose.
  const gw = await gatewayOn(t, disk, 'store: { durability: os }\nexporters: []\n');
  const { acked, after } = await publishThenCut(t, gw, disk, 3_000, 'control');
  const found = await onDisk(join(after.dir, 'data'));
  const missing = [...acked].filter((k) => !found.held.has(k));
  t.diagnostic(`${acked.size} acknowledged, on disk ${found.held.size}, missing ${missing.length}`);
  assert.ok(
    missing.length > 0,
    `a power cut after ${acked.size} PUBACKs without fsync lost none: the copy holds what was not fsynced, so the fsync test above proves nothing`,
  );
});

test('power cut with a serial device in acknowledged mode: every reading the device got an ACK for is on the disk', {
  skip: skip ?? socatSkip,
  timeout: 120_000,
}, async (t) => {
  const disk = await loopDisk(t, 128);
  const pty = await startSocat(t);
  const link = simulatorLinkOptions('tank', pty.dev1, 'crc', 'json', true);
  const gw = await gatewayOn(t, disk, `serial:\n  - ${JSON.stringify(link)}\n`);
  const device = createSimulatedDevice({ path: pty.dev0, rate: 1000, framing: 'crc', codec: 'json', ack: true, ackTimeoutMs: 300, deviceId: 'tank1', seed: 7 });
  await device.start();
  t.after(() => device.stop());
  await waitUntil(() => device.stats().acked >= 1500, '1500 readings acknowledged', 60_000);
  const after = await cutPower(t, disk, gw.proc.pid!);
  // Every ACK the device has read was sent before the gateway stopped, so for data committed before the cut.
  const { generated } = device.stats();
  const unacked = new Set(device.unackedSeqs());
  await device.stop();
  await gw.kill9();
  const acked = Array.from({ length: generated }, (_, seq) => seq).filter((seq) => !unacked.has(seq));
  const found = await onDisk(join(after.dir, 'data'), (p) => String(p.seq));
  const missing = acked.filter((seq) => !found.held.has(String(seq)));
  t.diagnostic(
    `${generated} readings sent, ${acked.length} acknowledged, on disk ${found.held.size} (stream ${found.inStream}, exported ${found.exported}), missing ${missing.length}`,
  );
  assert.ok(acked.length >= 1500);
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${acked.length} acknowledged readings are not on the disk after the power cut`);
});
