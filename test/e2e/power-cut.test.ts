// A power cut, not a kill -9 (test/helpers/power-cut.ts): the gateway CLI in a child process, its
// data directory on an ext4 loop disk. At a moment in full flow the disk is copied as a power cut
// leaves it (nothing the kernel had not written yet), and the copy is read as the next boot would
// find it, or a gateway is started on it. kill -9 cannot test any of this: the page cache survives it.
// - MQTT (default configuration: archive rule, durability fsync, gzipped NDJSON file exporter; MQTT
//   3.1.1 and 5 publishers at QoS 1), three cuts in a row, each restart from the raw state the last
//   one left: every message that got a PUBACK in any run is in the local stream or an exported file.
// - The control: the same with `durability: os` (PUBACK after the write, before any fsync) and no
//   exporter must lose acknowledged messages: a harness that finds nothing there proves nothing.
// - A serial device in acknowledged mode: every reading it got an ACK for is on the disk.
// - A tailed log file: after the restart every line is in the stream exactly once (the committed
//   offset and its lines are in one LevelDB batch).
// - A stop, then a cut: the exporter's checkpoint the stop waited for is on the disk.
// - An MQTT source (mosquitto upstream, persistent session): every command mosquitto got a PUBACK
//   for is on the disk (a PUBACK sent before the commit is caught: the cut comes while read commands
//   wait for a commit paced at 1 s), and after the restart every command reaches the stream.
// - A disk the backlog filled (no reserve, the upstream unreachable, LevelDB at ENOSPC), then a
//   cut: after the restart every PUBACKed message is exported once the upstream is back.
// Needs root (loop device, mount): skipped otherwise with the reason. test/bench/power-cuts.ts runs
// many seeded cuts in a row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openLocalStreams } from '../../gateway/store/index.js';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { freeBytes } from '../helpers/small-fs.js';
import { startMosquitto } from '../helpers/peers.js';
import { ackedOnFirstConnection, idsInStream, mosquittoPacketLog, sourceCounts } from '../helpers/power-cut-mqtt.js';
import mqtt from 'mqtt';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { duplicatesAndMissing, linesOnDisk, startWriter, tailIntoLogsYaml } from '../helpers/logrotate.js';
import { readAll } from '../helpers/store-intake.js';
import { writeFile } from 'node:fs/promises';
import { cutPower, loopDisk, powerCutSkip } from '../helpers/power-cut.js';
import { gatewayOn, heldOnDisk as onDisk, publish, publishKey, publishThenCut, readExports, emptyHeld, throughGateway } from '../helpers/power-cut-flow.js';
import { socatSkip, startSocat } from '../helpers/socat.js';
import { createSimulatedDevice, simulatorLinkOptions } from '../../firmware-bridge/simulator.js';

const skip = powerCutSkip();
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

test('power cut while tailing a log file: after the restart on the disk the cut left, every line is in the stream exactly once', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const disk = await loopDisk(t, 128);
  // The log is another program's, on another disk: the cut takes only the gateway's.
  const logs = await tempDir(t, 'gatehouse-cut-logs-');
  const file = join(logs, 'app.log');
  await writeFile(file, '');
  const yaml = tailIntoLogsYaml(file, 'scanIntervalMs: 100');
  const gw = await gatewayOn(t, disk, yaml);
  const total = 20_000;
  const writer = await startWriter(t, file, total, 30);
  await waitUntil(async () => ((await lastSeqOf(gw, 'logs')) >= 6_000 ? true : undefined), 'the gateway read 6,000 lines', 60_000, 20);
  const after = await cutPower(t, disk, gw.proc.pid!);
  await gw.kill9();
  // The restart reads on from the offset committed with the last records on the disk.
  const gw2 = await gatewayOn(t, after, yaml);
  await writer.done;
  await waitUntil(async () => ((await lastSeqOf(gw2, 'logs')) >= total ? true : undefined), `all ${total} lines read`, 60_000, 50).catch(() => undefined);
  assert.equal(await gw2.stop(), 0);
  const store = await openLocalStreams({ path: join(after.dir, 'data', 'store') }, testDeps());
  await store.defineStream({ name: 'logs', maxBytes: 1073741824, onFull: 'reject' });
  const streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
  await store.close();
  const check = duplicatesAndMissing(streamed, await linesOnDisk(logs));
  t.diagnostic(`${total} lines written, ${streamed.length} in the stream, ${check.duplicates} duplicates, ${check.missing.length} missing`);
  assert.equal(check.missing.length, 0, `missing lines, e.g. ${check.missing.slice(0, 3).join(' | ')}`);
  assert.equal(check.duplicates, 0, 'a line read twice: the offset on the disk is not the one committed with its lines');
  assert.deepEqual(check.extra, []);
});

async function lastSeqOf(gw: GatewayProcess, stream: string): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/api/streams`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as { streams: Array<{ name: string; lastSeq: number }> };
  return body.streams.find((s) => s.name === stream)?.lastSeq ?? 0;
}

test('a stop, then a power cut: the exporter checkpoint the stop waited for is on the disk (nothing is sent again)', { skip, timeout: 120_000 }, async (t) => {
  const disk = await loopDisk(t, 128);
  const gw = await gatewayOn(t, disk);
  const flow = await publish(gw.mqttUrl, 'stop', 2);
  await waitUntil(() => flow.acked.size >= 2_000, '2,000 PUBACKs', 60_000);
  await flow.stop();
  // Every record exported: then nothing more is appended, so nothing syncs LevelDB's log after
  // the exporter's last checkpoint but the stop itself.
  const archive = async () => {
    const res = await fetch(`${gw.adminUrl}/api/streams`);
    const body = (await res.json()) as { streams: Array<{ name: string; lastSeq: number; exporters: Array<{ lastExportedSeq: number }> }> };
    return body.streams.find((s) => s.name === 'archive')!;
  };
  const exported = await waitUntil(
    async () => {
      const a = await archive();
      return a.exporters[0]!.lastExportedSeq === a.lastSeq ? a.lastSeq : undefined;
    },
    'the archive exported',
    30_000,
  );
  assert.equal(await gw.stop(), 0);
  const after = await cutPower(t, disk, undefined);
  const streams = await openLocalStreams({ path: join(after.dir, 'data', 'store') }, testDeps());
  try {
    await streams.defineStream({ name: 'archive', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
    const info = streams.info('archive');
    assert.equal(info.lastSeq, exported);
    assert.deepEqual(
      info.consumers.map((c) => c.checkpoint),
      [exported],
      'the checkpoint written before the stop is on the disk: a restart sends nothing again',
    );
  } finally {
    await streams.close();
  }
});

test('power cut with an MQTT source (mosquitto upstream): every command the source PUBACKed is on the disk the cut left, and after the restart on that disk every command published upstream reaches the stream', {
  skip: skip ?? needBinary('mosquitto', 'mosquitto'),
  timeout: 120_000,
}, async (t) => {
  // The source PUBACKs a message to mosquitto only after its commit (fsync): every command
  // mosquitto got a PUBACK for before the cut must be on the disk the cut left, and the rest it
  // sends again (DUP) in the persistent session. mosquitto's log names each PUBACK (each command
  // has its own topic, so a message id maps to a command id); the store is read on the cut's copy.
  // What this catches: a PUBACK sent before the commit (injected at receipt: fails 5 runs of 5,
  // naming the ids). Such a PUBACK is lost only if the cut stops the gateway after it and before
  // the commit's write starts: a write already in the kernel when the process stops completes, as
  // on a disk that finished it. The earlier version cut just after a poll saw 1,000 commits, with
  // the default pacing (7 ms): mostly after one commit and before the next batch was read, where
  // nothing is acknowledged early (caught 1 run of 3; mosquitto's log showed it resends exactly
  // what it got no PUBACK for). So here commits are paced at 1 s (store.commitDelayMs), commands
  // trickle in, and the cut comes when no commit has ended for 300 ms and 50 or more commands read
  // wait for the next one (~0.7 s away); the test checks the cut left them off the disk.
  const logFile = join(await tempDir(t, 'gatehouse-cut-mosquitto-'), 'mosquitto.log');
  // max_inflight_messages: with its default (20) mosquitto 2.0 stops sending while the source holds
  // unacknowledged messages and sends its queue in a burst at each commit's PUBACKs, while a source
  // that acknowledges early reads a trickle. Above what is ever in flight here, both read the same
  // trickle, and only when the PUBACK leaves differs.
  const peer = await startMosquitto(t, [...mosquittoPacketLog(logFile), 'max_inflight_messages 1000']);
  const disk = await loopDisk(t, 128);
  const yaml = [
    'store: { commitDelayMs: 1000 }',
    'exporters: []',
    'streams:',
    '  down: { maxBytes: 67108864, localOnly: true }',
    'rules:',
    '  version: 1',
    '  rules:',
    `    - { name: commands, sql: "SELECT * FROM 'downlink/#'", actions: [{ stream: { name: down } }] }`,
    'sources:',
    `  - { type: mqtt, name: cloud, url: ${JSON.stringify(peer.url)}, clientId: gw-power-cut, reconnectMinMs: 50, reconnectMaxMs: 500, topics: [{ filter: 'cloud/#', stripPrefix: 'cloud/', localPrefix: 'downlink/' }] }`,
    '',
  ].join('\n');
  const gw = await gatewayOn(t, disk, yaml);
  await waitUntil(async () => {
    const s = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as { sources: Array<{ name: string; state: string }> };
    return s.sources.find((x) => x.name === 'cloud')?.state === 'connected';
  }, 'the MQTT source connected');
  const office = await mqtt.connectAsync(peer.url, { clientId: 'office-power-cut', reconnectPeriod: 0 });
  t.after(() => office.endAsync(true));
  const total = 2_000;
  // ~200 commands/s, below what the source commits at this pacing (its window, 256, a second): a
  // trickle, not a backlog read in bursts (a commit after a burst read slower than 100 ms, under
  // load, does not wait for its pacing: docs/store.md, "Commit pacing").
  const published = (async () => {
    const acks: Promise<unknown>[] = [];
    for (let id = 0; id < total; id++) {
      acks.push(office.publishAsync(`cloud/cmd/${id}`, JSON.stringify({ id }), { qos: 1 }));
      if (id % 10 === 9) await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(acks);
  })();
  // The cut: no commit has ended for 300 ms (so the one pending waits for its pacing: ~0.7 s to
  // go), and 50 or more commands are read and not committed.
  let last: { since: number; acknowledged: number } | undefined;
  const atCut = await waitUntil(
    async () => {
      const c = await sourceCounts(gw, 'cloud');
      const now = performance.now();
      if (last?.acknowledged !== c.acknowledged) last = { since: now, acknowledged: c.acknowledged };
      return c.acknowledged >= 200 && c.received - c.acknowledged >= 50 && now - last.since >= 300 ? c : undefined;
    },
    'no commit for 300 ms, 50 commands read since',
    30_000,
    10,
  );
  const after = await cutPower(t, disk, gw.proc.pid!);
  await gw.kill9();
  const onDisk = await idsInStream(join(after.dir, 'data'), 'down');
  const gw2 = await gatewayOn(t, after, yaml);
  // The gateway's first connection has ended once mosquitto logs its second.
  const acked = await waitUntil(
    () => ackedOnFirstConnection(logFile, 'gw-power-cut', 'cloud/cmd/'),
    'the restarted gateway connected to mosquitto',
    30_000,
    50,
  );
  const ackedLost = [...acked].filter((id) => !onDisk.has(id)).sort((a, b) => a - b);
  t.diagnostic(
    `at the cut: ${atCut.received} commands read, ${atCut.acknowledged} committed (the source's counts); on the disk ${onDisk.size}, PUBACKed ${acked.size} (mosquitto's log), PUBACKed and not on the disk ${ackedLost.length}`,
  );
  assert.deepEqual(
    ackedLost.slice(0, 20),
    [],
    `${ackedLost.length} commands got their PUBACK (mosquitto's log) before the cut and are not on the disk it left (ids ${ackedLost[0]} to ${ackedLost.at(-1)}): acknowledged before their commit`,
  );
  assert.ok(
    atCut.received - onDisk.size >= 50,
    `the cut left ${onDisk.size} commands on the disk with ${atCut.received} read: fewer than 50 were between their receipt and their commit, so an early PUBACK could not have been seen`,
  );
  await published;
  const seen = new Set<number>();
  await waitUntil(
    async () => {
      seen.clear();
      for (let from = 1; ; ) {
        const page = (await (await fetch(`${gw2.adminUrl}/api/streams/down/records?from=${from}&limit=1000`)).json()) as {
          records: Array<{ payload: string }>;
          next: number;
        };
        if (page.records.length === 0) break;
        for (const r of page.records) seen.add((JSON.parse(r.payload) as { id: number }).id);
        from = page.next;
      }
      return seen.size === total ? true : undefined;
    },
    `all ${total} commands in the stream`,
    60_000,
    200,
  ).catch(() => undefined);
  const missing = Array.from({ length: total }, (_, id) => id).filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} commands are not in the stream after the restart (mosquitto did not send them again)`);
});

test('a power cut on a disk the backlog filled (no reserve, upstream unreachable): after the restart every PUBACKed message is exported once the upstream is back', {
  skip,
  timeout: 240_000,
}, async (t) => {
  const disk = await loopDisk(t, 64);
  // The export folder cannot be made (a file is in its way): the backlog stays in the stream and
  // fills the disk, to LevelDB's ENOSPC (reserveBytes 0). After the cut the gateway restarts on
  // what the cut left, with a folder it can write, on another disk.
  const blocked = join(disk.dir, 'not-a-folder');
  await writeFile(blocked, '');
  // readExports reads <dir>/export.
  const outsideData = await tempDir(t, 'gatehouse-cut-export-');
  const outside = join(outsideData, 'export');
  const config = (dir: string): string =>
    [
      'store: { reserveBytes: 0 }',
      'exporters:',
      `  - { name: out, stream: archive, destination: { type: file, gzip: true, dir: ${JSON.stringify(dir)} } }`,
      '',
    ].join('\n');
  const gw = await gatewayOn(t, disk, config(join(blocked, 'export')));
  // Most of the disk taken by another program's file (left there): ~10,000 messages fill the rest.
  await writeFile(join(disk.dir, 'other-program'), Buffer.alloc(Math.max(0, freeBytes(disk.dir) - 12 * 1024 * 1024)));
  const flow = await publish(gw.mqttUrl, 'full', 4, 1200);
  t.after(() => flow.stop());
  const writable = async (g: GatewayProcess): Promise<number> => {
    const text = await (await fetch(`${g.adminUrl}/metrics`)).text();
    return Number(/^gatehouse_store_writable (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };
  await waitUntil(async () => ((await writable(gw)) === 0 ? true : undefined), 'the disk full (store not writable)', 120_000, 100);
  const after = await cutPower(t, disk, gw.proc.pid!);
  const acked = new Set(flow.acked);
  await gw.kill9();
  await flow.stop();
  const gw2 = await gatewayOn(t, after, config(outside));
  const exportedAll = await waitUntil(
    async () => {
      const found = emptyHeld();
      await readExports(outsideData, publishKey, found);
      return [...acked].every((k) => found.held.has(k)) ? found : undefined;
    },
    `all ${acked.size} PUBACKed messages exported after the restart`,
    120_000,
    500,
  ).catch(async (e: unknown) => {
    const found = emptyHeld();
    await readExports(outsideData, publishKey, found);
    const missing = [...acked].filter((k) => !found.held.has(k));
    throw new Error(
      `${String(e)}: ${missing.length} missing, e.g. ${missing.slice(0, 3).join(' ')}; /healthz ${await (await fetch(`${gw2.adminUrl}/healthz`)).text()}`,
    );
  });
  t.diagnostic(
    `${acked.size} PUBACKed before the cut on a full disk, ${exportedAll.exported} lines exported after the restart, torn lines ${exportedAll.tornLines}`,
  );
  assert.ok(acked.size > 1_000, `${acked.size} PUBACKed`);
});
