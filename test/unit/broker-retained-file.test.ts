// The retained file's lines (gateway/broker/retained-file.ts) are made from the packets when they
// are written, not kept beside them: the text is what every earlier version wrote and reads
// (JSON.stringify of { topic, payload (base64), qos, properties?, messageExpiry? }), in a journal
// batch and in a snapshot; a record's fields this version does not know survive a snapshot as they
// did when its line was kept; liveBytes() (when to compact) is the snapshot's characters; and the
// heap holds the messages once (their line, ~1.37x the payload, was a second copy of the set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { RetainedFile } from '../../gateway/broker/retained-file.js';
import { encodeProps } from '../../gateway/broker/props-json.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const silent = pino({ level: 'silent' });
const NOW = 1_767_000_000_000;
const MONO = 5_000;
/** Fixed clocks: the wall deadline written for a monotonic one is known. */
const clocks = { now: () => NOW, monotonic: () => MONO };

interface Note {
  topic: string;
  payload: Buffer;
  qos: number;
  properties?: Record<string, unknown>;
  messageExpiry?: number;
}

const notes: Note[] = [
  { topic: 'a/1', payload: Buffer.from('x'), qos: 0 },
  { topic: 'a/2', payload: Buffer.from('xy'), qos: 1 },
  { topic: 'a/3', payload: Buffer.from([0, 255, 10, 13, 34, 92]), qos: 2 },
  { topic: 'caf\u00e9/"quoted"\\/\u{1f600}', payload: Buffer.from('{"v":1}\n'), qos: 1 },
  {
    topic: 'v5/props',
    payload: Buffer.alloc(70_000, 7),
    qos: 1,
    properties: { contentType: 'application/json', correlationData: Buffer.from('corr'), userProperties: { site: 'n\u00f8rd', list: ['1', '2'] } },
  },
  { topic: 'v5/expiry', payload: Buffer.from('soon'), qos: 1, messageExpiry: MONO + 60_000.5 },
  { topic: 'v5/qos-clamped', payload: Buffer.from('q'), qos: 5 },
];

/** The line every earlier version wrote for a note: JSON.stringify of its StoredRetained. */
function expectedLine(n: Note): string {
  const stored: Record<string, unknown> = { topic: n.topic, payload: n.payload.toString('base64'), qos: Math.min(2, Math.max(0, n.qos)) };
  const properties = encodeProps(n.properties);
  if (properties !== undefined) stored.properties = properties;
  if (n.messageExpiry !== undefined) stored.messageExpiry = NOW + (n.messageExpiry - MONO);
  return JSON.stringify(stored);
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

test('the journal batch and the snapshot hold, byte for byte, the lines earlier versions wrote; liveBytes is the snapshot less its header', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const rf = new RetainedFile(file, silent, clocks, 20);
  await rf.load();
  for (const n of notes) rf.note(n);
  rf.note({ topic: 'gone', payload: Buffer.from('soon deleted'), qos: 0 });
  await waitUntil(() => rf.journal.written.batches >= 1, 'the first batch');
  rf.note({ topic: 'gone', payload: Buffer.alloc(0), qos: 0 });
  // the same message again is no change: no line for it
  rf.note({ ...notes[0]!, payload: Buffer.from('x') });
  await waitUntil(() => rf.journal.written.batches >= 2, 'the second batch');
  const journal = await lines(`${file}.journal`);
  assert.deepEqual(journal.slice(2, 2 + notes.length + 1), [
    ...notes.map(expectedLine),
    expectedLine({ topic: 'gone', payload: Buffer.from('soon deleted'), qos: 0 }),
  ]);
  assert.deepEqual(journal.slice(-1), ['{"topic":"gone","deleted":true}'], 'the deletion, and nothing for the same message again');
  assert.match(journal.at(-2)!, /^\{"at":\d+\}$/);
  const live = rf.liveBytes();
  await rf.close();
  const snapshot = await lines(file);
  assert.deepEqual(snapshot.slice(1), notes.map(expectedLine));
  assert.equal(
    live,
    snapshot.slice(1).reduce((sum, l) => sum + l.length + 1, 0),
    'liveBytes: the characters of the lines and their newlines',
  );
});

test('a snapshot of the previous version loads, and is written again byte for byte; a field this version does not know is kept', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const records = [
    expectedLine(notes[0]!),
    expectedLine(notes[3]!),
    expectedLine(notes[4]!),
    JSON.stringify({ topic: 'later', payload: 'aGk=', qos: 1, messageExpiry: NOW + 120_000, origin: { site: 'b' } }),
  ];
  await writeFile(file, `${JSON.stringify({ gatehouse: 'mqtt-retained', v: 2, gen: 3, savedAt: NOW })}\n${records.join('\n')}\n`);
  await writeFile(`${file}.journal`, `${JSON.stringify({ gatehouse: 'mqtt-retained-journal', v: 2, gen: 3 })}\n`);
  const rf = new RetainedFile(file, silent, clocks, 20);
  const packets = await rf.load();
  assert.deepEqual(
    packets.map((p) => [p.topic, p.payload.toString('base64')]),
    [notes[0]!, notes[3]!, notes[4]!].map((n) => [n.topic, n.payload.toString('base64')]).concat([['later', 'aGk=']]),
  );
  assert.equal(packets[3]!.messageExpiry, MONO + 120_000, 'the deadline back on the monotonic clock');
  // a change, so that the stop writes a snapshot
  rf.note({ topic: 'new', payload: Buffer.from('n'), qos: 0 });
  await rf.close();
  const snapshot = await lines(file);
  assert.deepEqual(snapshot.slice(1), [
    ...records.slice(0, 3),
    JSON.stringify({ topic: 'later', payload: 'aGk=', qos: 1, messageExpiry: NOW + 120_000, origin: { site: 'b' } }),
    expectedLine({ topic: 'new', payload: Buffer.from('n'), qos: 0 }),
  ]);
});

test('the retained set is held once: the heap does not grow by a line (~1.37x the payload) per message', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = await tempDir(t);
  // no batch written during the test (a minute away): what is measured is what is held
  const rf = new RetainedFile(join(dir, 'mqtt-retained.json'), silent, clocks, 60_000);
  await rf.load();
  const N = 1000;
  const BYTES = 32 * 1024;
  // the payloads made first: held by the test as aedes' store holds them
  const payloads = Array.from({ length: N }, (_, k) => Buffer.alloc(BYTES, k % 251));
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let k = 0; k < N; k++) rf.note({ topic: `t/${k}`, payload: payloads[k]!, qos: 1 });
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // a line each would be N x ~43.7 KB = ~44 MB of heap strings; the entries are ~100 bytes each
  assert.ok(grown < 4 * 1024 * 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MiB for ${N} retained messages of ${BYTES} bytes`);
  assert.equal(rf.size, N);
  await rf.close();
});
