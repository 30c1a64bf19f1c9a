// The MQTT bridge stopping (SIGTERM, systemctl stop) while its broker holds PUBLISHes without ever
// answering: a stuck or overloaded broker, or a hostile one. No real broker does this on purpose,
// so the peer is a small node:net server written here: it answers CONNECT with CONNACK (3.1.1,
// accepted) and PINGREQ with PINGRESP, and nothing else. mqtt.js's clean end waits for the
// PUBACKs of publishes in flight: stop() never finished and the gateway ignored SIGTERM until
// systemd killed it. Now stop() ends in bounded time and the unacknowledged records stay in the
// stream (never checkpointed), to be resent at the next start, and the connection is closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { waitUntil, withTimeout } from '../helpers/index.js';

test('mqtt: stop() ends in bounded time while the broker never PUBACKs; the records stay unexported', { timeout: 60_000 }, async (t) => {
  const sockets = new Set<Socket>();
  let publishBytes = 0;
  let open = 0;
  const server = createServer((s) => {
    sockets.add(s);
    open++;
    s.on('close', () => open--);
    s.on('error', () => undefined);
    let connected = false;
    s.on('data', (d: Buffer) => {
      if (!connected) {
        connected = true;
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK, session not present, accepted
        return;
      }
      if (d[0] === 0xc0)
        s.write(Buffer.from([0xd0, 0x00])); // PINGRESP
      else publishBytes += d.length; // PUBLISH: never answered
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, clientId: 'gh-stop', protocolVersion: 4 });
  await append(streams, 3);
  await waitUntil(() => publishBytes > 0, 'the records published to the broker', 10_000);
  const started = performance.now();
  await withTimeout(exporter.stop(), 20_000, 'stop() to end (stopTimeoutMs 5 s, then 2 s for the PUBACKs)');
  const took = performance.now() - started;
  assert.ok(took < 12_000, `stop took ${Math.round(took)} ms`);
  // And the connection is closed: mqtt.js ignores an end() while a first one waits for PUBACKs, so
  // the forced end was a no-op and the socket, its keepalive and handlers lived on until the broker's
  // keepalive timed it out.
  await waitUntil(() => open === 0, 'the connection to the broker closed by the stop', 3_000);
  assert.equal(await streams.getCheckpoint('up', 'cloud'), 0, 'nothing checkpointed: the records are resent at the next start');
  assert.equal(streams.info('up').lastSeq, 3);
});
