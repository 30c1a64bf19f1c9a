// NATS JetStream destination: message ids (Nats-Msg-Id) of two gateways never collide, against a
// real nats-server -js (Debian package nats-server). JetStream drops a publish whose id it stored
// within the duplicate window, whoever sent it: two gateways publishing their stream `archive`
// into one JetStream stream sent the same `archive:<seq>` ids, and the second one's records were
// acknowledged (PubAck duplicate: true) and never stored. Each gateway is a destination built as
// an exporter builds it (the registry, with its data dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { createDestination } from '../../gateway/upstream/registry.js';
import { installationId } from '../../gateway/upstream/installation-id.js';
import { tempDir, needBinary, testDeps, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');

function rec(seq: number, from: string): StoredRecord {
  return { stream: 'archive', seq, topic: `site/${from}`, receivedAt: seq, payload: Buffer.from(`${from}${seq}`) };
}

/** A gateway's nats destination (its own data dir), started. */
async function gatewayDestination(t: Parameters<typeof tempDir>[0], url: string, dataDir: string): Promise<Destination> {
  const dest = createDestination(
    { type: 'nats', servers: url, stream: 'HUB', createStream: true, reconnectWaitMs: 100, ackTimeoutMs: 2000 } as { type: 'nats' },
    { ...testDeps(), dataDir },
  );
  await dest.start();
  t.after(() => dest.stop());
  return dest;
}

/** Send until every record is acknowledged (the client connects in the background). */
async function sendOk(dest: Destination, records: StoredRecord[]): Promise<void> {
  await waitUntil(
    async () => ((await dest.send(records, AbortSignal.timeout(5000))).every((r) => r.ok) ? true : undefined),
    'a send every record of which is acknowledged',
    15_000,
    50,
  );
}

/** Every message of the stream: its data and Nats-Msg-Id. */
async function readAll(nc: NatsConnection): Promise<Array<{ data: string; id: string }>> {
  const info = await (await nc.jetstreamManager()).streams.info('HUB');
  const consumer = await nc.jetstream().consumers.get('HUB');
  const out: Array<{ data: string; id: string }> = [];
  while (out.length < info.state.messages) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 100, expires: 2000 })) {
      got++;
      out.push({ data: m.string(), id: m.headers?.get('Nats-Msg-Id') ?? '' });
    }
    if (got === 0) break;
  }
  return out;
}

test('nats: two gateways publishing the same local stream and sequences into one JetStream stream both have their records stored', { skip }, async (t) => {
  const peer = await startNats(t);
  const a = await gatewayDestination(t, peer.url, await tempDir(t));
  const b = await gatewayDestination(t, peer.url, await tempDir(t));
  await sendOk(a, [rec(1, 'a'), rec(2, 'a'), rec(3, 'a')]);
  await sendOk(b, [rec(1, 'b'), rec(2, 'b'), rec(3, 'b')]);
  const reader = await connect({ servers: peer.url });
  t.after(() => reader.close());
  const stored = await readAll(reader);
  assert.deepEqual(stored.map((m) => m.data).sort(), ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'], 'site b acknowledged but not stored');
  // The ids: <installation>:<stream>:<seq>, one installation per gateway.
  const installations = new Set(stored.map((m) => /^([0-9a-f]{16}):archive:[123]$/.exec(m.id)?.[1]));
  assert.equal(installations.size, 2, stored.map((m) => m.id).join(' '));
  assert.ok(!installations.has(undefined));
});

test('nats: a record resent after the gateway restarts (same data dir) keeps its message id and is dropped as a duplicate', { skip }, async (t) => {
  const peer = await startNats(t);
  const dataDir = await tempDir(t);
  const first = await gatewayDestination(t, peer.url, dataDir);
  await sendOk(first, [rec(1, 'a'), rec(2, 'a')]);
  await first.stop();
  // As after a kill -9: the records from the checkpoint on are sent again, with new ones.
  const again = await gatewayDestination(t, peer.url, dataDir);
  await sendOk(again, [rec(1, 'a'), rec(2, 'a'), rec(3, 'a')]);
  const reader = await connect({ servers: peer.url });
  t.after(() => reader.close());
  const stored = await readAll(reader);
  assert.deepEqual(
    stored.map((m) => m.data),
    ['a1', 'a2', 'a3'],
  );
  const installation = (await readFile(join(dataDir, 'installation-id'), 'utf8')).trim();
  assert.deepEqual(
    stored.map((m) => m.id),
    [1, 2, 3].map((s) => `${installation}:archive:${s}`),
  );
});

test('nats: an installation id file cut short (a crash while it was written) is replaced, then read as is', async (t) => {
  const dataDir = await tempDir(t);
  await writeFile(join(dataDir, 'installation-id'), '3f');
  const id = await installationId(dataDir);
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal((await readFile(join(dataDir, 'installation-id'), 'utf8')).trim(), id);
  assert.equal(await installationId(dataDir), id);
});
