// The MQTT bridge against a broker that takes PUBLISHes and does not PUBACK them while the
// connection stays up (a stuck or overloaded broker, a half-open link, or a hostile one). No real
// broker does this on purpose, so the peer is a small node:net server written here: CONNACK for
// CONNECT, PINGRESP for PINGREQ, and PUBACKs only when the test says so.
// - mqtt.js kept its own copy of every timed-out PUBLISH to resend at the next connection: the
//   copies grew with every retry, and after a reconnect mqtt.js replayed them one at a time, each
//   waiting for its PUBACK, before any new PUBLISH (the loop's sends waited behind stale duplicates).
// - A send with no PUBACK for ackTimeoutMs left the connection up: a PUBACK arriving late for a
//   forgotten PUBLISH would be matched by message id alone, and mqtt.js hands ids out again in turn,
//   so once the counter came round it could acknowledge a newer PUBLISH the broker never got. The
//   bridge now ends such a connection and sends the records again on a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { waitUntil } from '../helpers/index.js';

test('mqtt: no PUBACK for ackTimeoutMs on a connection still up: the bridge ends it, and the records go again on new connections as new PUBLISHes (no stored copies)', {
  timeout: 60_000,
}, async (t) => {
  const sockets = new Set<Socket>();
  /** Per connection, in order: the records' payloads seen, and whether the client (not this server) closed it. */
  const conns: Array<{ payloads: string[]; closedByClient: boolean }> = [];
  /** Every PUBLISH's message id: a stored copy replayed by mqtt.js keeps its id, the loop's sends get new ones. */
  const ids: number[] = [];
  /** Connections from this index on get their PUBACKs. */
  let ackFrom = Infinity;
  let serverClosing = false;
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    const seen = { payloads: [] as string[], closedByClient: false };
    const index = conns.push(seen) - 1;
    s.on('close', () => {
      if (!serverClosing) seen.closedByClient = true;
    });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connect')
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK accepted
      else if (p.cmd === 'pingreq') s.write(Buffer.from([0xd0, 0x00]));
      else if (p.cmd === 'publish') {
        seen.payloads.push(String(p.payload));
        const id = p.messageId ?? 0;
        ids.push(id);
        if (index >= ackFrom) s.write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff])); // PUBACK
      }
    });
    s.on('data', (d: Buffer) => parser.parse(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    serverClosing = true;
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const streams = await openStreams(t);
  await append(streams, 3);
  await startExporter(t, streams, {
    type: 'mqtt',
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'gh-unacked',
    protocolVersion: 4,
    ackTimeoutMs: 200,
    reconnectMaxMs: 1000,
  });
  // Before: the connection stayed up and the loop resent the records on it, send after send.
  await waitUntil(() => conns[0]?.closedByClient === true, 'the bridge ends the connection that gave no PUBACK for 200 ms', 20_000);
  const first = conns[0]!.payloads;
  assert.equal(new Set(first).size, first.length, `no record sent twice on the silent connection: ${first.join(' ')}`);
  // The records go again on the next connections (the loop splits a batch that failed twice with
  // nothing accepted, so they may be spread over several).
  await waitUntil(() => new Set(conns.slice(1).flatMap((c) => c.payloads)).size === 3, 'the loop sends its 3 records again on new connections', 20_000);
  assert.equal(await streams.getCheckpoint('up', 'cloud'), 0, 'nothing acknowledged, nothing checkpointed');
  ackFrom = conns.length; // the broker answers from the next connection on
  await waitUntil(async () => (await streams.getCheckpoint('up', 'cloud')) === 3, 'the 3 records acknowledged on a later connection', 30_000);
  // Before the bridge dropped mqtt.js's stored copies, each new connection first replayed one of
  // them (its message id again) and waited for its PUBACK before any new PUBLISH.
  assert.equal(new Set(ids).size, ids.length, `every PUBLISH is the loop's, with a new message id (none replayed): ${ids.join(',')}`);
  for (const [k, c] of conns.entries()) if (k < conns.length - 1) assert.ok(c.closedByClient, `connection ${k} (no PUBACKs) ended by the bridge`);
});
