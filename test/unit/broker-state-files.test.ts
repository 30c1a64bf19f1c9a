// The broker's state files read once, line by line (state-lines.ts, state-journal.ts load()): lines
// across 64 KiB chunks and a UTF-8 character split between two chunks, a last line without its
// newline, the whole-file JSON of earlier versions read whole after its first line, a read error
// after the open, a FIFO (readable once: a start held on one, test/e2e/reload-during-start), and a
// snapshot found corrupt after records were applied: taken back with the owner's discard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StateLines, StateReadError } from '../../gateway/broker/state-lines.js';
import { StateJournal, type StateRecord } from '../../gateway/broker/state-journal.js';
import { tempDir, which } from '../helpers/index.js';
import { capturingLogger } from '../helpers/fuzz.js';

async function allLines(file: string): Promise<string[]> {
  const r = await StateLines.open(file);
  const out: string[] = [];
  try {
    for (let l = await r.next(); l !== undefined; l = await r.next()) out.push(l);
  } finally {
    await r.close();
  }
  return out;
}

/** What the files held before: the text split on newlines, a final empty piece (a trailing newline) dropped. */
function split(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

test('lines across 64 KiB chunks, a character split between two chunks, a line longer than a chunk, a last line without its newline', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'f');
  // 'é' is 2 bytes: its first byte is the chunk's last (byte 65,535), its second the next chunk's first
  const first = `${'a'.repeat(65_535 - 4)}xyz\u00e9end`;
  assert.equal(Buffer.byteLength(first.slice(0, first.indexOf('\u00e9'))), 65_534);
  const cases = [`${first}\nb\n\n${'c'.repeat(200_000)}\n\u00fc\u20ac\u{1f600}\r\nlast`, `${first}\nb\n`, '\n\n', 'one'];
  for (const text of cases) {
    await writeFile(file, text);
    assert.deepEqual(await allLines(file), split(text));
  }
  await writeFile(file, '');
  assert.deepEqual(await allLines(file), [], 'an empty file has no line');
});

test('ended says whether the last line had its newline; rest() is everything after, byte for byte', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'f');
  const text = `{"head":1}\n${JSON.stringify({ retained: [{ topic: '\u00e9', payload: 'x'.repeat(150_000) }] })}\n`;
  await writeFile(file, text);
  const r = await StateLines.open(file);
  t.after(() => r.close());
  assert.equal(await r.next(), '{"head":1}');
  assert.equal(r.ended, true);
  assert.equal(`{"head":1}\n${await r.rest()}`, text);
  assert.equal(await r.next(), undefined, 'nothing after rest()');
  assert.equal(r.bytes, Buffer.byteLength(text));
  await writeFile(file, 'no newline');
  const r2 = await StateLines.open(file);
  t.after(() => r2.close());
  assert.equal(await r2.next(), 'no newline');
  assert.equal(r2.ended, false);
});

test('a read failing after the open (a directory: EISDIR) is a StateReadError, not a damaged line', async (t) => {
  const dir = await tempDir(t);
  const r = await StateLines.open(dir);
  t.after(() => r.close());
  await assert.rejects(r.next(), (err: unknown) => err instanceof StateReadError && /EISDIR/.test(String((err as Error).cause)));
});

const fifoSkip = which('mkfifo') ? undefined : "needs 'mkfifo' (coreutils)";

/** A FIFO at `file`, written once with `text` in pieces of `piece` bytes (a reader sees them as they come). */
function fifoOnce(file: string, text: string, piece = 10_000): Promise<void> {
  assert.equal(spawnSync('mkfifo', [file]).status, 0);
  const out = createWriteStream(file);
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += piece) out.write(buf.subarray(i, i + piece));
  out.end();
  return new Promise((resolve, reject) => {
    out.once('close', resolve);
    out.once('error', reject);
  });
}

/** A journal and a minimal owner of its records (a stand-in for retained-file.ts and v5/session-file.ts: what load applies). */
function journalOf(file: string) {
  const { logger, lines: logs } = capturingLogger();
  const stats = { stateTornLines: 0, stateCorruptFiles: 0, stateWriteErrors: 0 };
  // (load() only: start() would open the journal and write a snapshot)
  const journal = new StateJournal({ file, kind: 'mqtt-retained', log: logger, stats, now: () => 1_800_000_000_000, flushDelayMs: 0 });
  const applied = new Map<string, string>();
  const owner = {
    collect: () => [],
    snapshot: () => applied.values(),
    liveBytes: () => undefined,
  };
  let discards = 0;
  const load = () =>
    journal.load(
      owner,
      (rec: StateRecord, line: string) => void applied.set(String(rec.topic), line),
      () => undefined,
      () => {
        discards++;
        applied.clear();
      },
    );
  return { journal, load, applied, logs, stats, discards: () => discards };
}

const header = (gen: number): string => `{"gatehouse":"mqtt-retained","v":2,"gen":${gen},"savedAt":1}\n`;
const rec = (topic: string, bytes = 1024): string => JSON.stringify({ topic, payload: Buffer.alloc(bytes, topic).toString('base64'), qos: 1 });

test('a snapshot in a FIFO (readable once) loads whole, with its journal', { skip: fifoSkip }, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  // 500 records of ~1.4 KB: ~11 chunks
  const records = Array.from({ length: 500 }, (_, i) => rec(`r/${i}`));
  const written = fifoOnce(file, `${header(7)}${records.join('\n')}\n`);
  await writeFile(`${file}.journal`, `{"gatehouse":"mqtt-retained-journal","v":2,"gen":7}\n{"at":5}\n${rec('r/0', 3)}\n`);
  const j = journalOf(file);
  const report = await j.load();
  await written;
  assert.equal(j.applied.size, 500);
  assert.equal(j.applied.get('r/499'), records[499]);
  assert.equal(j.applied.get('r/0'), rec('r/0', 3), 'the journal applied after the snapshot');
  assert.deepEqual(report, { savedAt: 5, journalRecords: 1 });
  assert.equal(j.discards(), 0);
  assert.deepEqual(j.logs, []);
});

test('a snapshot found corrupt after records were applied (in a FIFO, chunks in): all taken back, set aside, its journal skipped', {
  skip: fifoSkip,
}, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  const good = Array.from({ length: 200 }, (_, i) => rec(`r/${i}`));
  const written = fifoOnce(file, `${header(3)}${good.join('\n')}\n{"topic":"r/x","pay\n${rec('r/after')}\n`);
  await writeFile(`${file}.journal`, `{"gatehouse":"mqtt-retained-journal","v":2,"gen":3}\n${rec('j/1')}\n`);
  const j = journalOf(file);
  const report = await j.load();
  await written;
  assert.equal(j.discards(), 1, 'the records applied before the damaged line are taken back');
  assert.equal(j.applied.size, 0, 'nothing of the snapshot, nothing of its journal');
  assert.deepEqual(report, { savedAt: undefined, journalRecords: 0 });
  assert.equal(j.stats.stateCorruptFiles, 1);
  assert.equal(j.logs.length, 1);
  assert.equal(j.logs[0]!.code, 'GH_BROKER_STATE_FILE');
  assert.match(String(j.logs[0]!.err), /line 202 is not a JSON object/);
  assert.ok((await readdir(dir)).includes('mqtt-retained.json.corrupt'));
});

test('a journal read once: a torn line and the lines after it ignored and counted, the records before it applied', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  await writeFile(file, `${header(4)}${rec('a')}\n`);
  const batch = Array.from({ length: 100 }, (_, i) => rec(`j/${i}`)).join('\n');
  await writeFile(
    `${file}.journal`,
    `{"gatehouse":"mqtt-retained-journal","v":2,"gen":4}\n{"at":9}\n${batch}\n{"at":10}\n{"topic":"j/t","pa\n${rec('j/late')}\n\n`,
  );
  const j = journalOf(file);
  const report = await j.load();
  assert.deepEqual(report, { savedAt: 10, journalRecords: 100 });
  assert.equal(j.applied.size, 101);
  assert.equal(j.applied.has('j/late'), false);
  assert.equal(j.stats.stateTornLines, 2, 'the torn line and the one after it (an empty line is no record)');
  assert.equal(j.logs[0]!.line, 104);
});

test('a snapshot that cannot be read after its open (EISDIR): warned, the owner starts empty', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  await mkdir(file);
  const j = journalOf(file);
  const report = await j.load();
  assert.deepEqual(report, { savedAt: undefined, journalRecords: 0 });
  assert.equal(j.applied.size, 0);
  assert.equal(j.stats.stateCorruptFiles, 0, 'not counted as a corrupt file: it was not read');
  assert.match(String(j.logs[0]!.msg), /cannot read mqtt-retained state: starting without it/);
});

test('MQTT 5 sessions: a snapshot corrupt after a session was read restores none (the session file discards what it read)', async (t) => {
  const { SessionFile } = await import('../../gateway/broker/v5/session-file.js');
  const { clocksOf } = await import('../../core/clock.js');
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt5-sessions.json');
  const session = (id: string): string => JSON.stringify({ s: id, e: 3600, d: null });
  const sub = (id: string): string => JSON.stringify({ s: id, sub: { filter: 'a/#', topicFilter: 'a/#', qos: 1 } });
  // saved now: a session connected at the stop counts as disconnected from then (expiry 1 h)
  const head = `{"gatehouse":"mqtt5-sessions","v":2,"gen":2,"savedAt":${Date.now()}}\n`;
  const { logger, lines: logs } = capturingLogger();
  const load = async (text: string) => {
    await writeFile(file, text);
    const sessions = new Map();
    const sf = new SessionFile(file, sessions, { log: logger, clocks: clocksOf({}), flushDelayMs: 0 });
    const out = await sf.load();
    await sf.close();
    return { out, sessions };
  };
  // sound, the same records restore the session (the case below differs by its last line only)
  const sound = await load(`${head}${session('dev-1')}\n${sub('dev-1')}\n`);
  assert.deepEqual(
    sound.out.map((s) => s.session.clientId),
    ['dev-1'],
  );
  const corrupt = await load(`${head}${session('dev-1')}\n${sub('dev-1')}\n{"s":"dev-1","m":1,"msg\n`);
  assert.deepEqual(corrupt.out, []);
  assert.equal(corrupt.sessions.size, 0);
  assert.ok(logs.some((l) => l.code === 'GH_BROKER_STATE_FILE' && /line 4 is not a JSON object/.test(String(l.err))));
});

test('a journal that cannot be read after its open (EISDIR): warned, the snapshot kept, a new snapshot and journal to be written', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'mqtt-retained.json');
  await writeFile(file, `${header(4)}${rec('a')}\n`);
  await mkdir(`${file}.journal`);
  const j = journalOf(file);
  const report = await j.load();
  assert.deepEqual(report, { savedAt: 1, journalRecords: 0 });
  assert.deepEqual([...j.applied.keys()], ['a']);
  assert.equal(j.discards(), 0);
  assert.match(String(j.logs[0]!.msg), /cannot read the rest of the mqtt-retained journal/);
  assert.equal(j.logs[0]!.code, 'GH_BROKER_STATE_FILE');
});
