// NATS JetStream destination against a real nats-server -js (Debian package nats-server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { createNatsDestination, natsOptionsSchema, streamSubjects, topicToSubject, type NatsOptions } from '../../gateway/upstream/destinations/nats.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { needBinary, testDeps, waitUntil } from '../helpers/index.js';
import { capturedLogger } from '../helpers/industrial.js';
import { startNats, type Peer } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');

function rec(seq: number, topic = `fleet/d${seq % 3}/data`): StoredRecord {
  return { stream: 'telemetry', seq, topic, receivedAt: seq, payload: Buffer.from(`p${seq}`) };
}

async function setup(
  t: TestContext,
  opts: Partial<NatsOptions> = {},
  deps: RuntimeDeps = testDeps(),
): Promise<{ peer: Peer; dest: Destination; reader: NatsConnection }> {
  const peer = await startNats(t);
  const dest = createNatsDestination(
    natsOptionsSchema.parse({ servers: peer.url, createStream: true, stream: 'GH', reconnectWaitMs: 100, ackTimeoutMs: 2000, ...opts }),
    deps,
  );
  await dest.start();
  t.after(() => dest.stop());
  const reader = await connect({ servers: peer.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.after(() => reader.close());
  return { peer, dest, reader };
}

/** Send until it succeeds: the client connects in the background. */
async function sendOk(dest: Destination, records: StoredRecord[]): Promise<RecordResult[]> {
  return waitUntil(
    async () => {
      const res = await dest.send(records, AbortSignal.timeout(5000));
      return res.every((r) => r.ok) ? res : undefined;
    },
    'a successful send',
    15_000,
    50,
  );
}

/** Read every message of the stream with an ordered consumer. */
async function readStream(
  nc: NatsConnection,
  expected: number,
): Promise<{ subject: string; data: string; id: string | undefined; topic: string | undefined }[]> {
  const js = nc.jetstream();
  const consumer = await js.consumers.get('GH');
  const out: { subject: string; data: string; id: string | undefined; topic: string | undefined }[] = [];
  while (out.length < expected) {
    const batch = await consumer.fetch({ max_messages: expected - out.length, expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      // The id without its installation prefix (`<16 hex>:`, upstream-nats-msg-id.test.ts): the record id.
      out.push({
        subject: m.subject,
        data: m.string(),
        id: m.headers?.get('Nats-Msg-Id')?.replace(/^[0-9a-f]{16}:/, ''),
        topic: m.headers?.get('Gatehouse-Topic'),
      });
    }
    if (got === 0) break;
  }
  return out;
}

test('nats: subjects and stream subjects from templates', () => {
  assert.equal(topicToSubject('fleet/d1/temp'), 'fleet.d1.temp');
  assert.equal(topicToSubject('/a//b.c/*/>/'), '_.a._.b_c._._._');
  assert.deepEqual(streamSubjects('gatehouse.{stream}'), ['gatehouse.>']);
  assert.deepEqual(streamSubjects('{topic}'), ['>']);
  assert.deepEqual(streamSubjects('fixed.subject'), ['fixed.subject']);
  assert.throws(() => createNatsDestination(natsOptionsSchema.parse({ subject: 'x.{nope}' }), testDeps()), /unknown field/);
});

test('nats: publish with ack, read back with a consumer, ids and topics carried', { skip }, async (t) => {
  const { dest, reader } = await setup(t, { subject: 'up.{topic}' });
  const records = [rec(1), rec(2), rec(3, 'x/y')];
  await sendOk(dest, records);
  const msgs = await readStream(reader, 3);
  assert.deepEqual(msgs, [
    { subject: 'up.fleet.d1.data', data: 'p1', id: 'telemetry:1', topic: 'fleet/d1/data' },
    { subject: 'up.fleet.d2.data', data: 'p2', id: 'telemetry:2', topic: 'fleet/d2/data' },
    { subject: 'up.x.y', data: 'p3', id: 'telemetry:3', topic: 'x/y' },
  ]);
});

test('nats: the same ids sent twice are stored once (JetStream dedup)', { skip }, async (t) => {
  const { dest, reader } = await setup(t);
  const records = [rec(1), rec(2)];
  await sendOk(dest, records);
  await sendOk(dest, records);
  await sendOk(dest, [rec(3)]);
  const info = await (await reader.jetstreamManager()).streams.info('GH');
  assert.equal(info.state.messages, 3);
  assert.deepEqual(
    (await readStream(reader, 3)).map((m) => m.id),
    ['telemetry:1', 'telemetry:2', 'telemetry:3'],
  );
});

test('nats: a missing stream without createStream is a clear retryable config error', { skip }, async (t) => {
  const peer = await startNats(t);
  const dest = createNatsDestination(natsOptionsSchema.parse({ servers: peer.url, stream: 'ABSENT', createStream: false }), testDeps());
  await dest.start();
  t.after(() => dest.stop());
  const err = await waitUntil(
    async () => {
      try {
        await dest.send([rec(1)], AbortSignal.timeout(5000));
      } catch (e) {
        return (e as { code?: string }).code === 'GH_DESTINATION_CONFIG' ? e : undefined;
      }
      return undefined;
    },
    'a config error',
    10_000,
    50,
  );
  assert.match(String((err as Error).message), /ABSENT/);
});

test('nats: server restarted mid-stream, every record arrives exactly once', { skip }, async (t) => {
  const { logger, lines } = capturedLogger();
  const { peer, dest, reader } = await setup(t, {}, { ...testDeps(), logger });
  const total = 200;
  for (let next = 1; next <= total; next += 20) {
    const batch: StoredRecord[] = [];
    for (let i = 0; i < 20; i++) batch.push(rec(next + i));
    if (next === 81) await peer.restart();
    // Resend the same batch (same ids) until it is acknowledged, as the exporter loop would.
    await waitUntil(
      async () => {
        try {
          const res = await dest.send(batch, AbortSignal.timeout(5000));
          if (res.every((r) => r.ok)) return true;
        } catch {
          // retryable: not connected yet
        }
        return false;
      },
      `batch at ${next} acknowledged`,
      20_000,
      50,
    );
  }
  // The client saw the connection drop. (A failed send after the restart is no proof: the client
  // may be connected again before the next send, when the server takes longer to open its port
  // than the client's 100 ms reconnect wait; 1 in ~100 loop runs.)
  await waitUntil(() => lines.some((l) => l.msg === 'NATS disconnected'), 'the destination noticed the restart');
  const info = await waitUntil(
    async () => {
      const i = await (await reader.jetstreamManager()).streams.info('GH');
      return i.state.messages >= total ? i : undefined;
    },
    'all messages in the stream',
    10_000,
    50,
  );
  assert.equal(info.state.messages, total, 'no duplicates, nothing missing');
});
