// MQTT bridge to a broker with a packet size limit (mosquitto max_packet_size; AWS IoT Core has one
// too), announced in its MQTT 5 CONNACK as Maximum Packet Size. A record whose PUBLISH would exceed
// it makes the broker drop the connection; the bridge reconnects and resends it, forever: the
// records behind it never went out and nothing said why. The record must be dead-lettered as
// TOO_LARGE without being sent, and the others delivered.
// Over MQTT 3.1.1 nothing is announced: mosquitto just drops the client ('disconnected due to
// oversize packet'). The bridge resent the record on every reconnect (and mqtt.js resent its stored
// copy), 400 reconnects in 10 s, forever, holding every record behind it, each failure called an
// outage ('not connected (read ECONNRESET)'). A disconnect before any PUBACK of a send is now
// record-level: the record is isolated, and dead-lettered after maxAttempts failures alone while
// other records go through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { openLocalStreams } from '../../gateway/store/index.js';
import { createExporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { freePort, needBinary, tempDir, testDeps, waitUntil, which } from '../helpers/index.js';

const skip = needBinary('mosquitto', 'mosquitto');

test("mqtt bridge: a record larger than the broker's announced Maximum Packet Size is dead-lettered unsent; the rest go through", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-mqtt-max-');
  const port = await freePort(t);
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_packet_size 1024\nuser ${userInfo().username}\n`);
  const broker = spawn(which('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (broker.exitCode === null && broker.signalCode === null) {
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGKILL');
      await exited;
    }
  });

  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'up', maxBytes: 1 << 24, onFull: 'reject' });
  const options = parseExporterOptions({
    name: 'bridge',
    stream: 'up',
    destination: { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, clientId: 'gh-max-packet', reconnectMinMs: 50, reconnectMaxMs: 200 },
    batch: { lingerMs: 10 },
    backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 200 },
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  await exporter.start();
  t.after(() => exporter.stop());

  for (let i = 0; i < 5; i++)
    await streams.append('up', { topic: 'fleet/d1/data', payload: Buffer.from(i === 2 ? 'x'.repeat(2000) : JSON.stringify({ i })), receivedAt: Date.now() });
  await waitUntil(() => exporter.status().lastExportedSeq === 5, 'the checkpoint passes all 5 records', 15_000).catch((err: unknown) => {
    const st = exporter.status();
    throw new Error(`${String(err)}; status: checkpoint ${st.lastExportedSeq}, dead letters ${st.deadLetters}, last error ${st.lastError?.message}`);
  });
  const st = exporter.status();
  assert.equal(st.exportedRecords, 4);
  assert.equal(st.deadLetters, 1);
  const [dl] = await streams.read('up-dlq', 1);
  assert.ok(dl, 'a dead letter');
  assert.equal(dl.payload.length, 2000);
  assert.match(dl.attrs?.error ?? '', /Maximum Packet Size|1024/);
});

test('mqtt bridge over 3.1.1: a record the broker drops the client for (no limit announced) is isolated and dead-lettered after maxAttempts; the rest go through', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-mqtt-max4-');
  const port = await freePort(t);
  const conf = join(dir, 'm.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_packet_size 1024\nuser ${userInfo().username}\n`);
  const broker = spawn(which('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    if (broker.exitCode === null && broker.signalCode === null) {
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGKILL');
      await exited;
    }
  });

  const deps = testDeps();
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, deps);
  t.after(() => streams.close());
  await streams.defineStream({ name: 'up', maxBytes: 1 << 24, onFull: 'reject' });
  const options = parseExporterOptions({
    name: 'bridge',
    stream: 'up',
    destination: { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, clientId: 'gh-max-packet-4', protocolVersion: 4, reconnectMinMs: 50, reconnectMaxMs: 200 },
    batch: { lingerMs: 10 },
    backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 200 },
    maxAttempts: 3,
  });
  const exporter = createExporter(options, { ...deps, streams, destination: createDestination(options.destination, deps) });
  await exporter.start();
  t.after(() => exporter.stop());

  let appended = 0;
  const add = (payload: Buffer) => {
    appended++;
    return streams.append('up', { topic: 'fleet/d1/data', payload, receivedAt: Date.now() });
  };
  for (let i = 0; i < 5; i++) await add(Buffer.from(i === 2 ? 'x'.repeat(2000) : JSON.stringify({ i })));
  // Newer records to probe with (a record failing alone counts only after others went through).
  const feed = setInterval(() => void add(Buffer.from(JSON.stringify({ probe: appended }))), 100);
  t.after(() => clearInterval(feed));
  await waitUntil(() => exporter.status().deadLetters > 0, 'the record dead-lettered', 30_000).catch((err: unknown) => {
    const st = exporter.status();
    throw new Error(`${String(err)}; status: checkpoint ${st.lastExportedSeq}, retries ${st.retries}, last error ${st.lastError?.message}`);
  });
  clearInterval(feed);
  const total = appended;
  await waitUntil(() => exporter.status().lastExportedSeq === total, `the checkpoint passes all ${total} records`, 15_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 1);
  assert.equal(st.exportedRecords, total - 1, 'every other record went through');
  const [dl] = await streams.read('up-dlq', 1);
  assert.ok(dl, 'a dead letter');
  assert.equal(dl.payload.length, 2000);
  assert.match(dl.attrs?.error ?? '', /closed the connection before any PUBACK .*maxRecordBytes/);
});
