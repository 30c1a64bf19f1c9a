// The NATS destination over a slow uplink (a cellular modem to the hub): a real nats-server with
// JetStream behind a TCP proxy in this process that carries the gateway's bytes at 4 KB/s
// (test/helpers/slow-link.ts; no Debian tool shapes one connection without root). 16 records of
// 1 KB take ~4 s on that link, longer than ackTimeoutMs (1 s). ackTimeoutMs counts silence (no
// acknowledgement of the send for that long), as the MQTT bridge's does: acknowledgements coming
// one after another are progress, and every record crosses the link once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { needBinary, testDeps, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';
import { SlowLink } from '../helpers/slow-link.js';

test('nats on a slow uplink: a send that takes longer than ackTimeoutMs but makes progress is not cut off, and each record crosses the link once', {
  skip: needBinary('nats-server', 'nats-server'),
  timeout: 60_000,
}, async (t) => {
  const peer = await startNats(t);
  const link = new SlowLink(Number(new URL(peer.url).port), 4000);
  const linkPort = await link.listen(0);
  t.after(() => link.close());
  const dest = createNatsDestination(
    natsOptionsSchema.parse({ servers: `nats://127.0.0.1:${linkPort}`, createStream: true, stream: 'GH', reconnectWaitMs: 100, ackTimeoutMs: 1000 }),
    testDeps(),
  );
  await dest.start();
  t.after(() => dest.stop());
  const rec = (seq: number, size: number): StoredRecord => ({
    stream: 'telemetry',
    seq,
    topic: 'fleet/d1/data',
    receivedAt: seq,
    payload: Buffer.alloc(size, 0x61),
  });
  // Connected, the JetStream stream made: a small record goes through first.
  await waitUntil(async () => (await dest.send([rec(1, 10)], AbortSignal.timeout(10_000)))[0]!.ok, 'a first small record sent', 30_000, 200);
  const before = link.carried;
  const records = Array.from({ length: 16 }, (_, i) => rec(i + 2, 1000));
  const results = await dest.send(records, AbortSignal.timeout(30_000));
  assert.deepEqual(
    results.map((r) => (r.ok ? 'ok' : r.code)),
    records.map(() => 'ok'),
    'every record acknowledged in one send',
  );
  const carried = link.carried - before;
  // 16,000 payload bytes plus headers (subject, Nats-Msg-Id, Gatehouse-Topic): well under 1.5x.
  assert.ok(carried < 16_000 * 1.5, `the link carried ${carried} bytes for 16,000 payload bytes: each record once`);
});
