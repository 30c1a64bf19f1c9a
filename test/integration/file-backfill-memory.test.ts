// Memory of a file source in a large backfill, on real files and a real store: the state (every
// tracked file's offset, ~170 bytes a file) is committed once per store commit, not once per chunk
// read (a backfill of N files wrote N states of N entries: ~1 GB of state for 2,400 files), the
// store writes one queued value per meta key, and a chunk's buffer is no bigger than what was read
// (the records of a chunk are slices of its buffer and keep it until committed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '../helpers/index.js';
import { expectExactly, fileRig as rig, numbered, range, waitLines } from '../helpers/file-rig.js';
import type { Message } from '../../core/message.js';
import { MAX_IN_FLIGHT_RECORDS } from '../../gateway/pipeline/sources/file/inflight.js';

test('a backfill of 300 files commits the state far fewer times than there are files, every line once', async (t) => {
  const files = 300;
  const r = await rig(t, { maxOpenFiles: 64, scanIntervalMs: 600_000 });
  const expected: string[] = [];
  for (let i = 0; i < files; i++) {
    await writeFile(join(r.dir, 'logs', `app-${i}.log`), numbered(0, 20, `f${i}`));
    expected.push(...range(0, 20, `f${i}`));
  }
  // states made (encoded): a put per chunk is cheap, its value is made when the store cuts the batch
  let states = 0;
  const commitMeta = r.intake.commitMeta.bind(r.intake);
  r.intake.commitMeta = (key, value) => {
    if (typeof value !== 'function') {
      states++;
      return commitMeta(key, value);
    }
    return commitMeta(key, () => {
      states++;
      return value();
    });
  };
  await r.source.start(r.intake);
  expectExactly(await waitLines(r, expected.length, 'every line', 30_000), expected);
  // Before: one state per file read (300 and more), each holding all 300 files.
  assert.ok(states < files / 3, `${states} states made for ${files} files`);
  // Every offset is still committed with its records: a restart reads nothing again.
  await r.restart();
  await waitUntil(() => (r.source.status().details!.files as unknown[]).length === files, 'the files known again');
  await r.source.stop();
  expectExactly(await r.lines(), expected);
});

test('a chunk read from a small file is held in a buffer of its size, not of readChunkBytes', async (t) => {
  const r = await rig(t, { readChunkBytes: 1024 * 1024 });
  const payloads: Message[] = [];
  const submit = r.intake.submit.bind(r.intake);
  r.intake.submit = (m) => {
    payloads.push(m);
    return submit(m);
  };
  const file = join(r.dir, 'logs', 'small.log');
  await writeFile(file, numbered(0, 10));
  await r.source.start(r.intake);
  await waitLines(r, 10, 'the 10 lines');
  // A live file: a line appended (the read past the known size is a small probe).
  const { appendFile } = await import('node:fs/promises');
  await appendFile(file, 'line 10\n');
  await waitLines(r, 11, 'the appended line');
  assert.equal(payloads.length, 11);
  const held = payloads.map((m) => m.payload.buffer.byteLength);
  // Before: every record kept a 1 MiB buffer (readChunkBytes) alive until it was committed.
  assert.ok(
    held.every((b) => b <= 16 * 1024),
    `buffers held by the records: ${held.join(', ')}`,
  );
});

test('records in flight are bounded also for short lines: a chunk is emitted a few hundred records at a time', async (t) => {
  const r = await rig(t, {});
  const lines = 20_000;
  const expected = range(0, lines, 'r');
  await writeFile(join(r.dir, 'logs', 'rows.log'), numbered(0, lines, 'r')); // one 160 KB chunk of 8-byte lines
  // Submits wait at a gate (a slow store) until released.
  const gate: Array<() => void> = [];
  let open = false;
  const submit = r.intake.submit.bind(r.intake);
  const release = (): void => {
    open = true;
    for (const g of gate.splice(0)) g();
  };
  r.beforeStop.push(release);
  r.intake.submit = (m) =>
    open ? submit(m) : new Promise<void>((resolve, reject) => gate.push(() => void (submit(m) ?? Promise.resolve()).then(resolve, reject)));
  await r.source.start(r.intake);
  const held = await waitUntil(() => (gate.length >= MAX_IN_FLIGHT_RECORDS ? gate.length : undefined), 'the records in flight at their bound');
  // Before: the whole chunk's 20,000 records at once (8 MiB of such lines: 1,000,000 records, ~400 MB of heap).
  assert.equal(held, MAX_IN_FLIGHT_RECORDS);
  assert.equal(r.source.status().details!.inflightRecords, MAX_IN_FLIGHT_RECORDS);
  release();
  expectExactly(await waitLines(r, lines, 'every line'), expected);
});
