// The MQTT bridge over a slow uplink (a cellular modem): real mosquitto behind a TCP proxy in this
// process that carries the bridge's bytes at 4 KB/s (test/helpers/slow-link.ts; no Debian tool
// shapes one connection without root). A send of 16 records of 1 KB takes ~4 s on that link.
// ackTimeoutMs counts silence (no PUBACK for that long), not the whole send: PUBACKs arriving one
// after another are progress. Before, a fixed 1 s deadline cut the send off while its PUBLISHes were
// still on the way, and the loop resent them behind the first copies: the link carried each record
// several times (the bench mqtt-slow-uplink: 2.71 PUBLISHes per record, 402 of 600 records in 240 s
// at 5 KB/s with the default 10 s; 1.00 and all 600 in 129 s after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { openStreams, startExporter } from '../helpers/exporter-rig.js';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { SlowLink } from '../helpers/slow-link.js';

test('mqtt bridge on a slow uplink: a send that takes longer than ackTimeoutMs but makes progress is not cut off, and each record crosses the link once', {
  skip: needBinary('mosquitto', 'mosquitto'),
  timeout: 60_000,
}, async (t) => {
  const broker = await startMosquitto(t);
  const brokerPort = Number(new URL(broker.url).port);
  const link = new SlowLink(brokerPort, 4000);
  const linkPort = await link.listen(0);
  t.after(() => link.close());
  // What reaches the broker, counted by a subscriber on its own, fast connection.
  const seen = new Map<string, number>();
  const sub = await mqtt.connectAsync(broker.url, { clientId: 'slow-uplink-checker' });
  t.after(() => sub.endAsync(true));
  sub.on('message', (_topic, payload) => {
    const k = payload.toString('utf8', 0, 40);
    seen.set(k, (seen.get(k) ?? 0) + 1);
  });
  await sub.subscribeAsync('up/#', { qos: 1 });

  const streams = await openStreams(t);
  const records = 16;
  for (let i = 0; i < records; i++) {
    const payload = Buffer.alloc(1000, 0x61);
    payload.write(JSON.stringify({ i }).padEnd(20, ' '));
    await streams.append('up', { topic: 'dev/d1/data', payload, receivedAt: Date.now() });
  }
  await startExporter(
    t,
    streams,
    { type: 'mqtt', url: `mqtt://127.0.0.1:${linkPort}`, clientId: 'gh-slow-uplink', ackTimeoutMs: 1000, topics: [{ local: '#', remotePrefix: 'up/' }] },
    undefined,
    { batch: { maxRecords: records, lingerMs: 0 } },
  );
  await waitUntil(async () => (await streams.getCheckpoint('up', 'cloud')) === records, `all ${records} records exported`, 45_000, 100);
  assert.equal(seen.size, records, 'every record reached the broker');
  const copies = [...seen.values()].reduce((a, b) => a + b, 0);
  assert.equal(copies, records, `each record crossed the link once (${copies} PUBLISHes for ${records} records)`);
});
