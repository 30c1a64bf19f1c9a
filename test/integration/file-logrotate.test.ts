// Rotation by Debian's logrotate itself (create and copytruncate) while a real writer process
// appends at a steady pace and the file source reads: every line on disk is in the stream exactly
// once. With copytruncate, lines written between logrotate's copy and its truncate exist in no
// file (a known limit of copytruncate); they are counted, not blamed on the reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { duplicatesAndMissing, linesOnDisk, logrotateBinary, rotate, startWriter, writeLogrotateConf } from '../helpers/logrotate.js';
import { storeIntake, readAll } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';

for (const [mode, pattern] of [
  ['create', '*.log'],
  ['copytruncate', '*.log'],
  ['copytruncate', 'app.log*'],
] as const) {
  test(`logrotate ${mode} (glob ${pattern}) under steady writes: every line on disk is read exactly once`, async (t) => {
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
      await waitUntil(async () => (await store.info('logs')).lastSeq >= target || undefined, `reader at ${target}`, 60_000, 20);
      rotate(bin, dir, conf);
      rotations++;
    }
    await writer.done;
    const onDisk = await linesOnDisk(logs);
    const written = Array.from({ length: total }, (_, i) => `w ${i} ${'x'.repeat(60)}`);
    await waitUntil(
      async () => ((await store.info('logs')).lastSeq >= onDisk.length ? true : undefined),
      `all ${onDisk.length} lines on disk read`,
      60_000,
      50,
    );
    await source.stop();
    const streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
    const check = duplicatesAndMissing(streamed, onDisk);
    // Lines copytruncate lost on disk may still have been read from the file before its truncation.
    const writtenSet = new Set(written);
    check.extra = check.extra.filter((l) => !writtenSet.has(l));
    const lostByLogrotate = written.length - new Set(onDisk).size;
    t.diagnostic(
      `${mode}: ${rotations} rotations, ${total} written, ${onDisk.length} on disk (${lostByLogrotate} lost by copytruncate between copy and truncate), ${streamed.length} streamed, ${check.duplicates} duplicates`,
    );
    assert.deepEqual(
      { duplicates: check.duplicates, missing: check.missing.slice(0, 5), extra: check.extra.slice(0, 5) },
      { duplicates: 0, missing: [], extra: [] },
    );
    if (mode === 'create') assert.equal(lostByLogrotate, 0);
    const st = source.status().details!;
    assert.equal((st.vanished as unknown[]).length, 0);
  });
}
