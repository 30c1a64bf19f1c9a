// The MQTT bridge against a broker that takes PUBLISHes and never PUBACKs them (stuck, overloaded,
// a half-open link): each send ends its connection after ackTimeoutMs and the records go again on a
// new one. Its warning came at every send (ackTimeoutMs 10 s: 360 lines an hour); now the first at
// once, then one a minute with the count (`suppressed`), and the exporter's 'export resumed' says
// when PUBACKs come again, with how long and how many sends failed. Its 'upstream MQTT connected'
// came at every new connection too (one per send): now the first connect, then a reconnect at most
// once a minute with downMs and the count of connects. No real broker does this on
// purpose: the peer is a small node:net server (as upstream-mqtt-unacked-audit.test.ts), CONNACK
// for CONNECT, PINGRESP for PINGREQ, PUBACKs only when the test says so. The clock of the rate is
// a counter the test moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { Registry } from 'prom-client';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { capturedLogger } from '../helpers/industrial.js';
import { waitUntil } from '../helpers/index.js';

test('a broker that never PUBACKs: 8 sends cut off make one warning, a minute later one with the count; "export resumed" once PUBACKs come', {
  timeout: 60_000,
}, async (t) => {
  const sockets = new Set<Socket>();
  let connections = 0;
  let ack = false;
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connect')
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK accepted
      else if (p.cmd === 'pingreq') s.write(Buffer.from([0xd0, 0x00]));
      else if (p.cmd === 'publish' && ack) {
        const id = p.messageId ?? 0;
        s.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff])); // PUBACK
      }
    });
    s.on('data', (d: Buffer) => parser.parse(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const clock = { t: 1_000_000 };
  const { logger, lines } = capturedLogger('info');
  const streams = await openStreams(t);
  await append(streams, 3);
  const exporter = await startExporter(
    t,
    streams,
    {
      type: 'mqtt',
      url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
      clientId: 'gh-lb',
      protocolVersion: 4,
      ackTimeoutMs: 100,
      reconnectMinMs: 10,
      reconnectMaxMs: 50,
    },
    { logger, registry: new Registry(), monotonic: () => clock.t },
  );
  const cut = (): Record<string, unknown>[] => lines.filter((l) => /no PUBACK for 100 ms/.test(l.msg)) as unknown as Record<string, unknown>[];
  await waitUntil(() => connections >= 9, 'eight connections cut off for want of a PUBACK', 30_000);
  assert.equal(cut().length, 1, `one warning for ${connections - 1} sends cut off`);
  // 'upstream MQTT connected': the first connect, then the first reconnect (downMs, connects); not one per connection.
  const connected = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'upstream MQTT connected') as unknown as Record<string, unknown>[];
  assert.equal(connected().length, 2, `the first connect and the first reconnect for ${connections} connections`);
  assert.equal(connected()[1]!.connects, 2);
  assert.equal(typeof connected()[1]!.downMs, 'number');
  clock.t += 61_000;
  await waitUntil(() => cut().length === 2, 'the reminder a minute later', 20_000);
  assert.ok(Number(cut()[1]!.suppressed) >= 7, `suppressed ${String(cut()[1]!.suppressed)}`);
  await waitUntil(() => connected().length === 3, 'a reconnect a minute later said', 20_000);
  assert.ok(Number(connected()[2]!.suppressed) >= 6, `suppressed ${String(connected()[2]!.suppressed)}`);
  assert.ok(Number(connected()[2]!.connects) >= 9);

  ack = true;
  await waitUntil(async () => (await streams.getCheckpoint('up', 'cloud')) === 3, 'the 3 records acknowledged', 30_000);
  const resumed = await waitUntil(() => lines.find((l) => l.msg === 'export resumed') as Record<string, unknown> | undefined, 'export resumed', 10_000);
  assert.ok(Number(resumed.failedSends) >= 8, `failedSends ${String(resumed.failedSends)}`);
  assert.ok(Number(resumed.downMs) >= 61_000, `downMs ${String(resumed.downMs)}`);
  assert.equal(exporter.status().deadLetters, 0);
});
