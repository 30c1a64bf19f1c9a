// The sparkplug source on a plant broker (Debian's mosquitto), into a real store (test/helpers/
// store-intake.ts: the pipeline's Intake over a real store, without the rules engine). The host's
// STATE: online once subscribed, its will (offline, the same timestamp) published by mosquitto when
// another client takes the session's connection over, online again with a newer timestamp at the
// reconnect, offline at stop and retained. Then the promise across the hop: an edge node publishes
// DDATA at QoS 1 while the source is stopped and started again on the same store; every message is
// in the store (at least once: each acknowledged only once committed, the rest redelivered by the
// persistent session).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary, tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { readAll, storeIntake } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { sparkplugSourceSchema } from '../../gateway/pipeline/sources/sparkplug/options.js';
import { SparkplugSource } from '../../gateway/pipeline/sources/sparkplug/source.js';
import { edgeNode, skipProtoc, sparkplugEncoder } from '../helpers/sparkplug.js';

const skip = needBinary('mosquitto', 'mosquitto') || skipProtoc;

test('sparkplug source on mosquitto: STATE online, its will at a takeover, online again, offline at stop (retained)', { skip }, async (t) => {
  const peer = await startMosquitto(t);
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'spb', maxBytes: 1 << 26, onFull: 'reject' });
  const o = sparkplugSourceSchema.parse({
    type: 'sparkplug',
    name: 'plant',
    url: peer.url,
    clientId: 'spb-host',
    hostId: 'scada1',
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
  });
  const source = new SparkplugSource(o, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  const watcher = await mqtt.connectAsync(peer.url, { reconnectPeriod: 0, clientId: 'watcher' });
  t.after(() => watcher.endAsync(true));
  const states: Array<{ online: boolean; timestamp: number }> = [];
  watcher.on('message', (_t, p) => states.push(JSON.parse(p.toString())));
  await watcher.subscribeAsync('spBv1.0/STATE/scada1', { qos: 1 });
  await source.start(storeIntake(store, 'spb', 'plant'));
  await waitUntil(() => states.some((s) => s.online), 'the online STATE');
  const first = states.find((s) => s.online)!;
  // Another client takes the connection over (clean session): mosquitto publishes the source's will.
  const intruder = await mqtt.connectAsync(peer.url, { reconnectPeriod: 0, clientId: 'spb-host', clean: true });
  t.after(() => intruder.endAsync(true));
  await waitUntil(() => states.some((s) => !s.online), 'the will: offline STATE');
  assert.deepEqual(
    states.find((s) => !s.online),
    { online: false, timestamp: first.timestamp },
    'the will carries the timestamp of the online STATE of its connection',
  );
  // The source reconnects (taking the connection back) with a newer timestamp.
  await waitUntil(() => states.filter((s) => s.online).length >= 2, 'online again');
  const second = states.filter((s) => s.online)[1]!;
  assert.ok(second.timestamp >= first.timestamp);
  await waitUntil(() => source.status().state === 'connected', 'the source connected');
  const before = states.length;
  await source.stop();
  await waitUntil(() => states.length > before, 'the offline STATE at stop');
  assert.deepEqual(states.at(-1), { online: false, timestamp: states.filter((s) => s.online).at(-1)!.timestamp });
  // Retained: a host coming later reads it.
  const late = await mqtt.connectAsync(peer.url, { reconnectPeriod: 0 });
  t.after(() => late.endAsync(true));
  const retained = new Promise<{ online: boolean }>((resolve) => late.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
  await late.subscribeAsync('spBv1.0/STATE/scada1', { qos: 1 });
  assert.equal((await retained).online, false);
});

test('sparkplug source on mosquitto: stopped and started while an edge node publishes at QoS 1, every message reaches the store', { skip }, async (t) => {
  const encode = await sparkplugEncoder(t);
  const peer = await startMosquitto(t);
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'fsync' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'spb', maxBytes: 1 << 26, onFull: 'reject' });
  const o = sparkplugSourceSchema.parse({
    type: 'sparkplug',
    name: 'plant',
    url: peer.url,
    clientId: 'spb-host',
    groups: ['plant1'],
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
  });
  const intake = storeIntake(store, 'spb', 'plant');
  let source = new SparkplugSource(o, { ...deps, dataDir: dir });
  t.after(() => source.stop());
  await source.start(intake);
  await waitUntil(
    () => source.status().state === 'connected' && ((source.status().details?.subscriptions ?? []) as Array<{ qos: number | null }>)[0]?.qos === 1,
    'subscribed',
  );
  const edge = await edgeNode(t, peer.url, encode, 'plant1', 'edge1');
  await edge.send('NBIRTH', 'metrics { name: "n" alias: 1 datatype: 3 int_value: 0 }', undefined, { qos: 1 });
  const N = 600;
  const publishing = (async () => {
    for (let i = 1; i <= N; i++) await edge.send('NDATA', `metrics { name: "n" alias: 1 datatype: 3 int_value: ${i} }`, undefined, { qos: 1 });
  })();
  // Stopped while they flow, then a new source (a restart) on the same store and session.
  await waitUntil(() => intake.submitted >= 100, '100 messages taken', 20_000);
  await source.stop();
  const atStop = intake.submitted;
  source = new SparkplugSource(o, { ...deps, dataDir: dir });
  await source.start(intake);
  await publishing;
  const values = await waitUntil(
    async () => {
      const seen = new Set<number>();
      for (const r of await readAll(store, 'spb')) {
        const p = JSON.parse(r.payload.toString()) as { type: string; metrics: Array<{ name?: string; value: number }> };
        if (p.type === 'NDATA') for (const m of p.metrics) if (m.name === 'n') seen.add(m.value);
      }
      return seen.size >= N ? seen : undefined;
    },
    `all ${N} NDATA in the store`,
    30_000,
  );
  for (let i = 1; i <= N; i++) assert.ok(values.has(i), `NDATA ${i} in the store`);
  assert.ok(atStop < N + 1, 'the stop came while messages were flowing');
});
