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
import { cutPower, loopDisk, powerCutSkip } from '../helpers/power-cut.js';
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

/** PUBLISHERS clients (3.1.1 and 5) publishing {c, i} at QoS 1 as fast as PUBACKs come back, WINDOW in flight each. */
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
      client.publish(`plant/line${c}/reading`, JSON.stringify({ c, i: n, temp: 20 + (n % 7) }), { qos: 1 }, (err) => {
        if (err) return; // no PUBACK: not acknowledged (the cut stopped the gateway)
        acked.add(`${c}:${n}`);
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
const publishKey = (p: Payload): string => `${String(p.c)}:${String(p.i)}`;

/** The key of every payload the disk holds after the cut: in the archive stream or in an exported file. */
async function onDisk(
  dataDir: string,
  key: (p: Payload) => string = publishKey,
): Promise<{ held: Set<string>; inStream: number; exported: number; tornLines: number }> {
  const held = new Set<string>();
  const streams = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  let inStream = 0;
  try {
    // As the gateway's config defines it (the default archive stream).
    await streams.defineStream({ name: 'archive', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
    for (let from = 1; ; ) {
      const recs = await streams.read('archive', from, { limit: 1000 });
      if (recs.length === 0) break;
      for (const r of recs) {
        held.add(key(JSON.parse(r.payload.toString('utf8')) as Payload));
        inStream++;
      }
      from = recs[recs.length - 1]!.seq + 1;
    }
  } finally {
    await streams.close();
  }
  let exported = 0;
  let tornLines = 0;
  const exportDir = join(dataDir, 'export');
  const files = await readdir(exportDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const f of files) {
    if (!f.isFile()) continue;
    // A file cut in the middle of its last gzip member: what decodes is read (its lines were not
    // checkpointed, so they are also in the stream or were never acknowledged as exported).
    const text = gunzipSync(await readFile(join(f.parentPath, f.name)), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        held.add(key((JSON.parse(line) as { payload: Payload }).payload));
        exported++;
      } catch {
        tornLines++;
      }
    }
  }
  return { held, inStream, exported, tornLines };
}

/** Start the gateway on a fresh loop disk, publish until `ackedBefore` PUBACKs, cut the power; what the disk holds against what was acknowledged. */
async function cutDuringFlow(t: TestContext, durability: 'fsync' | 'os', ackedBefore: number) {
  const disk = await loopDisk(t, 128);
  const dataDir = join(disk.dir, 'data');
  // The control keeps everything in the store (no exporter): the exporter fsyncs its files whatever
  // the store's durability, and a cut just after it caught up would leave nothing unsynced to lose.
  const store = durability === 'os' ? 'store: { durability: os }\nexporters: []\n' : '';
  const config = await writeConfig(disk.dir, `dataDir: ${JSON.stringify(dataDir)}\nlog: { level: info }\n${store}`);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
  const flow = await publish(gw.mqttUrl, durability);
  t.after(() => flow.stop());
  await waitUntil(() => flow.acked.size >= ackedBefore, `${ackedBefore} PUBACKs`, 60_000);
  const after = await cutPower(t, disk, gw.proc.pid!);
  // Read before the gateway is killed: nothing it does after the cut can reach the copy anyway.
  const acked = new Set(flow.acked);
  await gw.kill9();
  gw = undefined;
  await flow.stop();
  const found = await onDisk(join(after.dir, 'data'));
  const missing = [...acked].filter((k) => !found.held.has(k));
  return { acked, found, missing };
}

test('power cut in full flow (durability fsync, default config): every message that got a PUBACK is on the disk, in the stream or in an exported file', {
  skip,
  timeout: 180_000,
}, async (t) => {
  for (const ackedBefore of [3_000, 12_000]) {
    const { acked, found, missing } = await cutDuringFlow(t, 'fsync', ackedBefore);
    t.diagnostic(
      `cut after ${ackedBefore}: ${acked.size} acknowledged, on disk ${found.held.size} (stream ${found.inStream}, exported ${found.exported}, torn lines ${found.tornLines}), missing ${missing.length}`,
    );
    assert.ok(acked.size >= ackedBefore);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${acked.size} acknowledged messages are not on the disk after the power cut`);
  }
});

test('control: with durability os (PUBACK before the fsync) the same power cut loses acknowledged messages, so the harness can see a loss', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { acked, found, missing } = await cutDuringFlow(t, 'os', 3_000);
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
  const dataDir = join(disk.dir, 'data');
  const pty = await startSocat(t);
  const link = simulatorLinkOptions('tank', pty.dev1, 'crc', 'json', true);
  const config = await writeConfig(disk.dir, `dataDir: ${JSON.stringify(dataDir)}\nlog: { level: info }\nserial:\n  - ${JSON.stringify(link)}\n`);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config);
  t.after(() => gw?.kill9());
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
  gw = undefined;
  const acked = Array.from({ length: generated }, (_, seq) => seq).filter((seq) => !unacked.has(seq));
  const found = await onDisk(join(after.dir, 'data'), (p) => String(p.seq));
  const missing = acked.filter((seq) => !found.held.has(String(seq)));
  t.diagnostic(
    `${generated} readings sent, ${acked.length} acknowledged, on disk ${found.held.size} (stream ${found.inStream}, exported ${found.exported}), missing ${missing.length}`,
  );
  assert.ok(acked.length >= 1500);
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${acked.length} acknowledged readings are not on the disk after the power cut`);
});
