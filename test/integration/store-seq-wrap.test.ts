// Months of uptime: a local stream's sequence numbers past 2^32 (at 5,000 records/s a 32-bit
// counter wraps in 10 days). The store packs a seq as two big-endian UInt32 (codec.ts writeU64);
// this runs the real in-process gateway on a store whose stream starts at 2^32 - 10, written the
// way the store writes it after a drop (the drop floor 'D': a stream defined afresh starts after
// it, drop.ts), and crosses the boundary with real mqtt.js publishes: the ids, the admin API's
// records read by seq across the boundary (LevelDB byte order), a restart on each side, the file
// export and a real nats-server (-js) exporter down at first (records held, then sent in order with
// their Nats-Msg-Id), both checkpoints past 2^32 and the stream reclaimed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Level } from 'level';
import mqtt from 'mqtt';
import pino from 'pino';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { KEY_DROP_FLOOR, u64 } from '../../gateway/store/codec.js';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');
const U32 = 2 ** 32;
/** The stream's lastSeq before the first publish: its first record is 2^32 - 9. */
const FLOOR = U32 - 10;

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The ids of every exported line, in file name order then line order. */
async function exportedIds(dir: string): Promise<string[]> {
  const ids: string[] = [];
  for (const f of await filesUnder(dir)) {
    const raw = await readFile(f);
    const text = f.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    for (const line of text.split('\n')) if (line) ids.push((JSON.parse(line) as { id: string }).id);
  }
  return ids;
}

async function natsIds(nc: NatsConnection, n: number): Promise<string[]> {
  const consumer = await nc.jetstream().consumers.get('HUB');
  const out: string[] = [];
  while (out.length < n) {
    let got = 0;
    for await (const m of await consumer.fetch({ max_messages: 100, expires: 2000 })) {
      got++;
      out.push(`${m.headers?.get('Nats-Msg-Id') ?? ''} ${m.string()}`);
    }
    if (got === 0) break;
  }
  return out;
}

async function publish(gw: Gateway, from: number, to: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  try {
    for (let i = from; i < to; i++) await c.publishAsync('site/a/data', JSON.stringify({ n: i }), { qos: 1 });
  } finally {
    await c.endAsync();
  }
}

interface RecordsReply {
  records: Array<{ seq: number; payload: string }>;
  next?: number;
}

test('a stream past 2^32 records: ids, reads by seq, restarts, file and NATS export, checkpoints and reclaim across the boundary', { skip }, async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  // The state the store leaves when a stream that reached 2^32 - 10 was dropped (drop.ts).
  const seed = new Level<Buffer, Buffer>(join(dataDir, 'store'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await seed.put(Buffer.from([KEY_DROP_FLOOR]), u64(FLOOR));
  await seed.close();

  const nats = await startNats(t);
  await nats.down(); // the hub is down at first: its records wait in the stream
  const file = join(root, 'g.yaml');
  await writeFile(
    file,
    [
      `dataDir: ${JSON.stringify(dataDir)}`,
      'exporters:',
      '  - { name: files, stream: archive, batch: { lingerMs: 0 }, destination: { type: file, dir: out } }',
      `  - { name: hub, stream: archive, batch: { lingerMs: 0 }, backoff: { maxMs: 200, outageMaxMs: 200 }, destination: { type: nats, servers: "${nats.url}", stream: HUB, createStream: true, reconnectWaitMs: 100, ackTimeoutMs: 2000 } }`,
      '',
    ].join('\n'),
  );
  let gw: Gateway | undefined;
  const start = async (): Promise<Gateway> =>
    startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry('test', 'gw'),
      version: 'test',
    });
  t.after(() => gw?.stop());
  gw = await start();
  const checkpoint = (g: Gateway, name: string): number => g.streams.info('archive').consumers.find((c) => c.name === name)?.checkpoint ?? 0;

  await publish(gw, 0, 20); // seqs 2^32 - 9 .. 2^32 + 10
  assert.equal(gw.streams.info('archive').lastSeq, U32 + 10);
  await waitUntil(() => checkpoint(gw!, 'files') === U32 + 10 || undefined, 'the file export past 2^32', 10_000, 20);

  // Read by seq across the boundary: LevelDB's byte order is the seq order (big-endian halves).
  const read = async (from: number, limit: number): Promise<RecordsReply> =>
    (await (await fetch(`http://127.0.0.1:${gw!.admin!.address().port}/api/streams/archive/records?from=${from}&limit=${limit}`)).json()) as RecordsReply;
  const across = await read(U32 - 2, 4);
  assert.deepEqual(
    across.records.map((r) => [r.seq, JSON.parse(r.payload) as unknown]),
    [
      [U32 - 2, { n: 7 }],
      [U32 - 1, { n: 8 }],
      [U32, { n: 9 }],
      [U32 + 1, { n: 10 }],
    ],
  );
  const all = await read(0, 100);
  assert.deepEqual(
    all.records.map((r) => r.seq),
    Array.from({ length: 20 }, (_, i) => FLOOR + 1 + i),
  );

  // A restart past the boundary: the sequence goes on, nothing reused.
  await gw.stop();
  gw = await start();
  assert.equal(gw.streams.info('archive').lastSeq, U32 + 10);
  assert.equal(checkpoint(gw, 'files'), U32 + 10);
  assert.equal(checkpoint(gw, 'hub'), FLOOR, 'the hub has sent nothing');
  await publish(gw, 20, 30);
  assert.equal(gw.streams.info('archive').lastSeq, U32 + 20);
  await waitUntil(() => checkpoint(gw!, 'files') === U32 + 20 || undefined, 'the file export of the second run', 10_000, 20);

  // The hub comes back: every held record goes, in order, its checkpoint past 2^32.
  await nats.up();
  await waitUntil(() => checkpoint(gw!, 'hub') === U32 + 20 || undefined, 'the NATS export past 2^32', 30_000, 50);
  // Both exporters delivered everything: the stream is reclaimed.
  await waitUntil(() => gw!.streams.info('archive').records === 0 || undefined, 'the stream reclaimed', 10_000, 20);

  const want = Array.from({ length: 30 }, (_, i) => `archive:${FLOOR + 1 + i}`);
  assert.deepEqual(await exportedIds(join(dataDir, 'out')), want, 'the file export: every id once, in order');
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const sent = await natsIds(nc, 30);
  assert.deepEqual(
    sent.map((s) => /:(archive:\d+) /.exec(s)?.[1]),
    want,
    'NATS: every record once, in order, with its id',
  );
  // The message is the record's payload.
  assert.deepEqual(
    sent.map((s) => (JSON.parse(s.slice(s.indexOf(' ') + 1)) as { n: number }).n),
    Array.from({ length: 30 }, (_, i) => i),
  );

  // A third start on the reclaimed stream: the next record is 2^32 + 21.
  await gw.stop();
  gw = await start();
  assert.equal(gw.streams.info('archive').lastSeq, U32 + 20);
  await publish(gw, 30, 31);
  assert.equal(gw.streams.info('archive').lastSeq, U32 + 21);
  const last = await read(U32 + 21, 5);
  assert.deepEqual(
    last.records.map((r) => r.seq),
    [U32 + 21],
  );
});
