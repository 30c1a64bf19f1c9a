// Rotation by Debian's logrotate itself (create and copytruncate) while a real writer process
// appends at a steady pace and the file source reads: every line on disk is in the stream exactly
// once. With copytruncate, lines written between logrotate's copy and its truncate exist in no
// file (a known limit of copytruncate); they are counted, not blamed on the reader. A line can
// also be split by it: logrotate's copy can end mid-write (it reads while the writer writes), the
// rest of that line is then lost by the truncate, and the copy ends with a partial line. The
// source emits that tail with the partial-line marker (or, if it read the whole line from the file
// before the truncation, the whole line): either is expected, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { duplicatesAndMissing, linesOnDisk, logrotateBinary, rotate, startWriter, writeLogrotateConf } from '../helpers/logrotate.js';
import { storeIntake, readAll } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';

const MARKER = ' [partial]';

/** The unterminated last piece of each rotated copy (logrotate's copy ended mid-line). */
async function splitTails(logs: string, live: string): Promise<string[]> {
  const tails: string[] = [];
  for (const name of await readdir(logs)) {
    if (join(logs, name) === live) continue;
    const text = await readFile(join(logs, name), 'utf8');
    const tail = text.slice(text.lastIndexOf('\n') + 1);
    if (tail.length > 0) tails.push(tail);
  }
  return tails;
}

/**
 * Exactly-once check against the lines on disk, where a copy's split tail T is satisfied by
 * T + marker or by a whole written line starting with T (read before the truncation).
 */
function checkStream(streamed: string[], onDisk: string[], tails: string[], writtenSet: Set<string>): ReturnType<typeof duplicatesAndMissing> {
  const check = duplicatesAndMissing(streamed, onDisk);
  const seen = new Set(streamed);
  const tailSet = new Set(tails);
  const onDiskSet = new Set(onDisk);
  for (const tail of tails) {
    // The whole line a tail was cut from is not on disk (its rest was lost by the truncate): a
    // tail cut inside the number ('w 3913') also starts ten whole lines on disk ('w 39130'...),
    // which counted as 9 duplicates of it (a CI run).
    const whole = streamed.filter((l) => l.startsWith(tail) && l !== tail + MARKER && writtenSet.has(l) && !onDiskSet.has(l));
    const ways = (seen.has(tail + MARKER) ? 1 : 0) + whole.length;
    if (ways > 1) check.duplicates += ways - 1;
    if (ways > 0) check.missing = check.missing.filter((l) => l !== tail);
  }
  // Lines copytruncate lost on disk may still have been read from the file before its truncation.
  check.extra = check.extra.filter((l) => !writtenSet.has(l) && !(l.endsWith(MARKER) && tailSet.has(l.slice(0, -MARKER.length))));
  return check;
}

for (const [mode, pattern, twice] of [
  ['create', '*.log', false],
  ['copytruncate', '*.log', false],
  ['copytruncate', 'app.log*', false],
  // Two logrotate runs back to back each time: the file the first creates (or the content it
  // leaves after its truncate) is rotated away again before the source may have looked at it.
  ['create', '*.log', true],
  ['copytruncate', '*.log', true],
] as const) {
  const how = twice ? ', twice in a row' : '';
  test(`logrotate ${mode}${how} (glob ${pattern}) under steady writes: every line on disk is read exactly once`, async (t) => {
    const bin = logrotateBinary();
    if (!bin) return t.skip("needs 'logrotate': install the Debian package 'logrotate' (apt-get install logrotate)");
    const dir = await tempDir(t, 'gatehouse-logrotate-');
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'app.log');
    await writeFile(file, '');
    const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, testDeps());
    await store.defineStream({ name: 'logs', maxBytes: 1 << 30, onFull: 'reject' });
    const intake = storeIntake(store, 'logs', 'app');
    const source = new FileSource(
      fileSourceSchema.parse({
        type: 'file',
        name: 'app',
        paths: [join(logs, pattern)],
        initialPosition: 'start_of_file',
        scanIntervalMs: 100,
        rotateWaitMs: 500,
      }),
      { ...testDeps(), dataDir: dir },
    );
    t.after(async () => {
      await source.stop();
      await store.close();
    });
    await source.start(intake);
    const total = 40_000;
    const writer = await startWriter(t, file, total);
    const conf = await writeLogrotateConf(dir, file, mode, writer.pid);
    let rotations = 0;
    for (let r = 1; r <= 6; r++) {
      const target = Math.floor((total * r) / 7);
      // Rotate each time the reader got past the next seventh of the lines (events, not sleeps).
      await waitUntil(async () => (await store.info('logs')).lastSeq >= target || undefined, `reader at ${target}`, 60_000, 20).catch(async (err: unknown) => {
        // A reader that stopped: what the source tracks and where, and what is on disk.
        const files = [];
        for (const n of await readdir(logs)) files.push({ n, size: (await stat(join(logs, n))).size });
        t.diagnostic(JSON.stringify({ rotations, lastSeq: (await store.info('logs')).lastSeq, status: source.status(), files }));
        throw err;
      });
      // (The source tracks the file the last rotation left: each round starts from a known state.)
      const st = await stat(file, { bigint: true });
      const live = `${st.dev}:${st.ino}`;
      await waitUntil(
        () => ((source.status().details!.files as Array<{ identity: string }>).some((f) => f.identity === live) ? true : undefined),
        `the source tracks ${file} (${live})`,
        60_000,
        20,
      );
      rotate(bin, dir, conf);
      rotations++;
      if (twice) {
        rotate(bin, dir, conf);
        rotations++;
      }
    }
    await writer.done;
    const onDisk = await linesOnDisk(logs);
    const written = Array.from({ length: total }, (_, i) => `w ${i} ${'x'.repeat(60)}`);
    const writtenSet = new Set(written);
    const tails = await splitTails(logs, file);
    // Every line on disk read (not just as many records as lines on disk: lines copytruncate lost
    // may have been read too, so the count alone is reached before the last lines are read).
    let streamed: string[] = [];
    let check = checkStream(streamed, onDisk, tails, writtenSet);
    await waitUntil(
      async () => {
        if ((await store.info('logs')).lastSeq < onDisk.length) return undefined;
        streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
        check = checkStream(streamed, onDisk, tails, writtenSet);
        return check.missing.length === 0 ? true : undefined;
      },
      `all ${onDisk.length} lines on disk read`,
      60_000,
      200,
    ).catch(() => undefined); // (on a timeout the check below says which lines are missing)
    if (check.missing.length > 0) {
      // What the source and the disk looked like when lines were still missing.
      const files = [];
      for (const n of await readdir(logs)) {
        const lines = (await readFile(join(logs, n), 'utf8')).split('\n');
        files.push({ n, lines: lines.length - 1, first: lines[0]?.slice(0, 8), last: lines[lines.length - 2]?.slice(0, 8) });
      }
      const missingFirst = check.missing[0];
      t.diagnostic(JSON.stringify({ missing: check.missing.length, missingFirst, missingLast: check.missing.at(-1), files, status: source.status() }));
    }
    await source.stop();
    streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
    check = checkStream(streamed, onDisk, tails, writtenSet);
    const onDiskSet = new Set(onDisk);
    const lostByLogrotate = written.filter((l) => !onDiskSet.has(l)).length;
    t.diagnostic(
      `${mode}: ${rotations} rotations, ${total} written, ${onDisk.length} on disk (${lostByLogrotate} lost by copytruncate between copy and truncate, ${tails.length} split), ${streamed.length} streamed, ${check.duplicates} duplicates`,
    );
    assert.deepEqual(
      { duplicates: check.duplicates, missing: check.missing.slice(0, 5), extra: check.extra.slice(0, 5) },
      { duplicates: 0, missing: [], extra: [] },
    );
    if (mode === 'create') assert.equal(lostByLogrotate, 0);
    // Nothing vanished, except lines copytruncate lost (written between its copy and its truncate)
    // that the source saw on disk before the truncate and could not read in time: reported, and
    // never more than copytruncate lost.
    const vanished = source.status().details!.vanished as Array<{ path: string; unreadBytes: number | null }>;
    const lostBytes = written.filter((l) => !onDiskSet.has(l)).reduce((n, l) => n + l.length + 1, 0);
    const reported = vanished.reduce((n, v) => n + (v.unreadBytes ?? Number.POSITIVE_INFINITY), 0);
    if (mode === 'create') assert.deepEqual(vanished, []);
    else assert.ok(reported <= lostBytes, `reported lost ${reported} bytes, copytruncate lost ${lostBytes}: ${JSON.stringify(vanished)}`);
  });
}
