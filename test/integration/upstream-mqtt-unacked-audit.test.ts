// The MQTT bridge against a broker that takes PUBLISHes and never PUBACKs them while the connection
// stays up (a stuck or overloaded broker, or a hostile one). No real broker does this on purpose,
// so the peer is a small node:net server written here: CONNACK for CONNECT, PINGRESP for PINGREQ,
// nothing for PUBLISH. Each send times out (ackTimeoutMs) and the loop resends its records; mqtt.js
// kept its own copy of every timed-out PUBLISH to resend at the next connection, so the copies grew
// with every retry (memory held for as long as the broker stayed stuck), and after a reconnect
// mqtt.js replayed them one at a time, each waiting for its PUBACK, before any new PUBLISH: the
// loop's sends waited behind stale duplicates (forever, with this broker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { waitUntil } from '../helpers/index.js';

test('mqtt: the PUBLISHes of a send that timed out are not kept by the client: after a reconnect the loop sends at once', { timeout: 60_000 }, async (t) => {
  const sockets = new Set<Socket>();
  /** PUBLISH packets per connection, in order of connection. */
  const conns: Array<{ publishes: number }> = [];
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    const seen = { publishes: 0 };
    conns.push(seen);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connect')
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK accepted
      else if (p.cmd === 'pingreq') s.write(Buffer.from([0xd0, 0x00]));
      else if (p.cmd === 'publish') seen.publishes++;
    });
    s.on('data', (d: Buffer) => parser.parse(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const streams = await openStreams(t);
  await startExporter(t, streams, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, clientId: 'gh-unacked', protocolVersion: 4, ackTimeoutMs: 200 });
  await append(streams, 3);
  // The loop's own resends: several sends of the 3 records time out on the first connection.
  await waitUntil(() => (conns[0]?.publishes ?? 0) >= 12, 'four sends of the 3 records timed out', 20_000);
  for (const s of sockets) s.destroy(); // the link drops; the bridge reconnects
  // Before: one stored copy sent, waiting for its PUBACK, and nothing else on this connection.
  await waitUntil(() => (conns[1]?.publishes ?? 0) >= 3, 'the loop sends its 3 records again on the new connection', 20_000);
  assert.equal(await streams.getCheckpoint('up', 'cloud'), 0, 'nothing acknowledged, nothing checkpointed');
});
