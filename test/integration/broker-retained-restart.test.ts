// Retained messages survive a broker restart (retained-file.ts): real mqtt.js clients, 3.1.1 and
// MQTT 5 (properties kept), a cleared topic stays cleared, an expired one is not restored.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IPublishPacket } from 'mqtt';
import pino from 'pino';
import { createBroker, type Broker } from '../../gateway/broker/index.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';

async function startBroker(t: TestContext, retainedFile: string): Promise<{ broker: Broker; url: string }> {
  const broker = await createBroker({ listeners: [{ host: '127.0.0.1', port: 0 }] }, { ...testDeps(), onPublish: () => undefined, retainedFile });
  await broker.start();
  t.after(() => broker.stop());
  return { broker, url: `mqtt://127.0.0.1:${broker.addresses()[0]!.port}` };
}

/** Subscribe and collect the retained messages sent after SUBACK (until `count` arrived). */
/** The retained-messages file of a broker, alone (no flush delay), loaded; closed after the test. */
async function loadedRetainedFile(
  t: TestContext,
  file: string,
  log: pino.Logger = testDeps().logger,
  stats?: { stateTornLines: number; stateCorruptFiles: number; stateWriteErrors: number },
) {
  const { RetainedFile } = await import('../../gateway/broker/retained-file.js');
  const { clocksOf } = await import('../../core/clock.js');
  const rf = new RetainedFile(file, log, clocksOf({}), 0, stats);
  t.after(() => rf.close());
  await rf.load();
  return rf;
}

async function retainedOn(url: string, filter: string, count: number, opts: IClientOptions = {}): Promise<IPublishPacket[]> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
  const got: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => got.push(packet));
  await c.subscribeAsync(filter, { qos: 1 });
  await waitUntil(() => got.length >= count, `${count} retained message(s) on ${filter}`, 5000);
  await c.endAsync();
  return got;
}

test('retained messages survive a broker restart; a cleared topic stays cleared; expired ones are dropped', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const first = await startBroker(t, file);
  const pub = await mqtt.connectAsync(first.url, { reconnectPeriod: 0, protocolVersion: 5 });
  await pub.publishAsync('status/dev1', 'online', { qos: 1, retain: true });
  await pub.publishAsync('config/dev2', '{"rate":5}', {
    qos: 1,
    retain: true,
    properties: { contentType: 'application/json', userProperties: { site: 'depot-7' }, correlationData: Buffer.from([1, 2, 3]) },
  });
  await pub.publishAsync('status/dev3', 'gone soon', { qos: 1, retain: true });
  await pub.publishAsync('status/dev3', '', { qos: 1, retain: true }); // cleared
  await pub.publishAsync('status/dev4', 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
  await pub.endAsync();
  await first.broker.stop(); // writes the final set

  // The expiry of status/dev4 passes while the broker is down.
  const downAt = Date.now();
  await waitUntil(() => Date.now() > downAt + 1100, 'status/dev4 to expire', 3000, 20);
  const second = await startBroker(t, file);
  const v3 = await retainedOn(second.url, 'status/#', 1);
  assert.deepEqual(
    v3.map((p) => [p.topic, p.payload.toString(), p.retain]),
    [['status/dev1', 'online', true]],
  );
  const [v5] = await retainedOn(second.url, 'config/#', 1, { protocolVersion: 5 });
  assert.equal(v5?.payload.toString(), '{"rate":5}');
  assert.equal(v5?.properties?.contentType, 'application/json');
  assert.deepEqual({ ...v5?.properties?.userProperties }, { site: 'depot-7' });
  assert.deepEqual([...(v5?.properties?.correlationData ?? [])], [1, 2, 3]);
});

test('a corrupt retained file is logged and the broker starts without it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, '{"retained": [unclosed');
  const { url } = await startBroker(t, file);
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await c.publishAsync('a', 'x', { qos: 1, retain: true });
  await c.endAsync();
  assert.deepEqual(
    (await retainedOn(url, 'a', 1)).map((p) => p.payload.toString()),
    ['x'],
  );
  // kept aside for inspection, not overwritten
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(`${file}.corrupt`, 'utf8'), '{"retained": [unclosed');
});

test('upgrade: the whole-file JSON of a version before the snapshot loads, and is kept as .before-upgrade for a rollback (that version reads the snapshot as corrupt and writes its empty file over it)', async (t) => {
  // The file as the round-11 gateway wrote it (2238796), written directly. Before: converted in
  // place, nothing kept; rolled back, the older gateway started without its retained messages and
  // wrote its empty file over the snapshot, so they were gone for good.
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const { readFile, writeFile } = await import('node:fs/promises');
  const legacy = JSON.stringify({ savedAt: 1796455189114, retained: [{ topic: 'cfg/A/0', payload: Buffer.from('retained-A-0').toString('base64'), qos: 1 }] });
  await writeFile(file, legacy);
  const { broker, url } = await startBroker(t, file);
  assert.deepEqual(
    (await retainedOn(url, 'cfg/#', 1)).map((p) => `${p.topic} ${p.payload.toString()}`),
    ['cfg/A/0 retained-A-0'],
  );
  await broker.stop();
  assert.match(await readFile(file, 'utf8'), /^\{"gatehouse":"mqtt-retained"/, 'rewritten as a snapshot');
  assert.equal(await readFile(`${file}.before-upgrade`, 'utf8'), legacy, 'the file of the older version, as it wrote it');
  // Rolled back without putting the copy back: the older version wrote its empty file. Upgraded
  // again, that one is kept too, beside: the first copy is not replaced by it.
  const empty = JSON.stringify({ savedAt: 1796455289114, retained: [] });
  await writeFile(file, empty);
  const again = await startBroker(t, file);
  await again.broker.stop();
  assert.equal(await readFile(`${file}.before-upgrade`, 'utf8'), legacy, 'the first copy is kept');
  const { readdir } = await import('node:fs/promises');
  const second = (await readdir(dir)).filter((f) => /^mqtt-retained\.json\.before-upgrade\.\d+$/.test(f));
  assert.equal(second.length, 1, (await readdir(dir)).join(' '));
  assert.equal(await readFile(join(dir, second[0]!), 'utf8'), empty);
});

test('a snapshot with a corrupt line is set aside whole: the broker starts without it, and without the journal beside it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const { writeFile } = await import('node:fs/promises');
  const rec = (topic: string): string => JSON.stringify({ topic, payload: Buffer.from('v').toString('base64'), qos: 1 });
  await writeFile(file, `{"gatehouse":"mqtt-retained","v":2,"gen":3,"savedAt":1}\n${rec('a/1')}\n{"topic":"a/2","pay\n${rec('a/3')}\n`);
  await writeFile(`${file}.journal`, `{"gatehouse":"mqtt-retained-journal","v":2,"gen":3}\n${rec('a/4')}\n`);
  const { url } = await startBroker(t, file);
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await c.publishAsync('a/5', 'x', { qos: 1, retain: true });
  await c.endAsync();
  // only what was retained after the start
  assert.deepEqual(
    (await retainedOn(url, 'a/+', 1)).map((p) => p.topic),
    ['a/5'],
  );
});

test('the retained file is not written for a message retained again unchanged', async (t) => {
  const dir = await tempDir(t);
  const rf = await loadedRetainedFile(t, join(dir, 'r.json'));
  const batches = (): number => rf.journal.written.batches;
  const packet = { topic: 'status/dev1', payload: Buffer.from('online'), qos: 1 };
  rf.note(packet);
  assert.equal(rf.dirty, true);
  await waitUntil(() => batches() === 1 && !rf.dirty, 'the first write');
  rf.note({ ...packet, payload: Buffer.from('online') }); // the device says it again at its next connect
  assert.equal(rf.dirty, false, 'no write for the same message');
  rf.note({ ...packet, payload: Buffer.from('offline') });
  assert.equal(rf.dirty, true);
  rf.note({ topic: 'never/retained', payload: Buffer.alloc(0), qos: 0 });
  await waitUntil(() => batches() === 2 && !rf.dirty, 'the second write');
  rf.note({ topic: 'never/retained', payload: Buffer.alloc(0), qos: 0 }); // clearing what is not there
  assert.equal(rf.dirty, false);
});

test('one changed topic of a large retained set costs its own line, not a rewrite of the set (was 1.4 MB)', async (t) => {
  const dir = await tempDir(t);
  const rf = await loadedRetainedFile(t, join(dir, 'r.json'));
  for (let i = 0; i < 1000; i++) rf.note({ topic: `status/dev${i}`, payload: Buffer.alloc(1024, 65), qos: 1 });
  await waitUntil(() => !rf.dirty && rf.journal.written.batches === 1, 'the first batch');
  const before = rf.journal.written.bytes;
  for (let n = 0; n < 20; n++) {
    rf.note({ topic: `status/dev${n}`, payload: Buffer.from(`v${n}`.padEnd(1024, 'x')), qos: 1 });
    await waitUntil(() => !rf.dirty && rf.journal.written.batches === n + 2, `batch ${n + 2}`);
  }
  // each write of the whole set was ~1.4 MB; each change is now one line of ~1.4 KB and its batch time
  const per = (rf.journal.written.bytes - before) / 20;
  assert.ok(per < 1500, `${per} bytes written per changed topic`);
  assert.equal(rf.journal.written.snapshots, 1, 'only the snapshot made at the first start');
});

test('the journal is compacted into a new snapshot once it outgrows the set; the last values survive the restart', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const { readFile } = await import('node:fs/promises');
  const header = async (): Promise<{ gen: number }> => JSON.parse((await readFile(file, 'utf8')).split('\n')[0]!) as { gen: number };
  const first = await startBroker(t, file);
  const genAtStart = (await header()).gen;
  const { stat } = await import('node:fs/promises');
  const journalSize = async (): Promise<number> => (await stat(`${file}.journal`)).size;
  // A compaction renames the new snapshot into place first, then starts the new journal (its
  // header carries the new generation): until then the old, full journal is still on disk. So the
  // compaction is done when the journal's generation moved, not the snapshot's (seen 3 runs in 23).
  const journalGen = async (): Promise<number> => {
    const { open } = await import('node:fs/promises');
    const fh = await open(`${file}.journal`, 'r');
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(256), 0, 256, 0);
      return (JSON.parse(buffer.toString('utf8', 0, bytesRead).split('\n', 1)[0]!) as { gen: number }).gen;
    } finally {
      await fh.close();
    }
  };
  const pub = await mqtt.connectAsync(first.url, { reconnectPeriod: 0 });
  // 40 topics of 16 KiB (a ~870 KB set) changed round after round: changes to a topic within one
  // write are one line, so each round's write adds the set again, until the journal holds 2x the set
  let n = 0;
  for (let round = 0; round < 10 && (await journalGen()) === genAtStart; round++) {
    const before = await journalSize();
    for (let i = 0; i < 40; i++, n++) await pub.publishAsync(`fleet/dev${i}/config`, `v${n}:`.padEnd(16 * 1024, 'x'), { qos: 1, retain: true });
    await waitUntil(async () => (await journalGen()) > genAtStart || (await journalSize()) > before, `round ${round} written`, 10_000, 20);
  }
  await pub.endAsync();
  assert.ok((await journalGen()) > genAtStart, 'a compaction, its new journal started');
  assert.ok((await header()).gen > genAtStart, 'a compaction');
  const journal = await readFile(`${file}.journal`, 'utf8');
  assert.ok(journal.length < 1024 * 1024, `the journal was started again (${journal.length} bytes)`);
  await first.broker.stop();
  const second = await startBroker(t, file);
  const got = await retainedOn(second.url, 'fleet/+/config', 40);
  assert.deepEqual(got.map((p) => p.payload.toString().split(':')[0]).sort(), Array.from({ length: 40 }, (_, i) => `v${n - 40 + i}`).sort());
});

test('a full disk: the failed write is warned once and counted, changes wait as marks (one a topic), and a whole snapshot is written once space is freed', async (t) => {
  const { smallFsSkip, mountSmallFs, writeFiller, freeBytes } = await import('../helpers/small-fs.js');
  const skip = smallFsSkip();
  if (skip) return t.skip(skip);
  const dir = await mountSmallFs(t, 1);
  const { RetainedFile } = await import('../../gateway/broker/retained-file.js');
  const { clocksOf } = await import('../../core/clock.js');
  const { rm } = await import('node:fs/promises');
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  const stats = { stateTornLines: 0, stateCorruptFiles: 0, stateWriteErrors: 0 };
  const rf = await loadedRetainedFile(t, join(dir, 'r.json'), log, stats);
  await writeFiller(join(dir, 'filler'), freeBytes(dir));
  // 10 topics of 1 KiB changed 30 times while the disk is full
  for (let n = 0; n < 30; n++) {
    for (let i = 0; i < 10; i++) rf.note({ topic: `cfg/dev${i}`, payload: Buffer.from(`v${n}:`.padEnd(1024, 'x')), qos: 1 });
    await waitUntil(() => !rf.dirty || stats.stateWriteErrors > 0, `round ${n}`);
  }
  // one failed write, then nothing until the 5 s retry: no snapshot attempted at each change
  assert.ok(stats.stateWriteErrors >= 1 && stats.stateWriteErrors <= 2, `${stats.stateWriteErrors} failed writes`);
  assert.equal(logs.filter((l) => l.code === 'GH_BROKER_STATE_FILE').length, 1, 'warned once');
  assert.match(String(logs[0]?.msg), /cannot write mqtt-retained state: retrying as a whole snapshot every 5 s/);
  await rm(join(dir, 'filler'));
  // the retry (every 5 s) writes the whole set as a snapshot
  await waitUntil(() => rf.journal.written.snapshots === 2, 'the snapshot after the disk was freed', 15_000, 50);
  const again = new RetainedFile(join(dir, 'r.json'), pino({ level: 'silent' }), clocksOf({}), 0);
  const loaded = await again.load();
  await again.close();
  assert.deepEqual(
    loaded.map((p) => p.payload.toString().split(':')[0]),
    Array(10).fill('v29'),
  );
});
