// CSVTOJSON maps the columns of a row to customFieldNames by position. A CSV file whose header
// line (skipped by skipHeaderLines) is not the first one the source read (a column added in a new
// file, or after a rotation), or does not have as many columns as customFieldNames, gets its rows
// mapped to the wrong names: warned once per file (GH_FILE_HEADER_CHANGED), counted, and shown in
// the file's status. Real files and a real store (test/helpers/file-rig.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metricValue, waitUntil } from '../helpers/index.js';
import { fileRig as rig, fileStatuses, waitLines } from '../helpers/file-rig.js';

const csv = {
  paths: ['logs/*.csv'],
  skipHeaderLines: 1,
  dataProcessingOptions: [{ optionName: 'CSVTOJSON' as const, customFieldNames: ['ts', 'temp'] }],
};

test('a CSV file whose header differs from the first one read is warned about once, counted and shown; the header is kept across a restart', async (t) => {
  const r = await rig(t, csv);
  const warnings = (): Array<Record<string, unknown>> => r.logs.filter((l) => l.code === 'GH_FILE_HEADER_CHANGED');
  await writeFile(join(r.dir, 'logs', 'a.csv'), 'ts,temp\n1,20\n');
  await r.source.start(r.intake);
  await waitLines(r, 1, 'the row of a.csv');
  assert.deepEqual(warnings(), [], 'the header of customFieldNames: nothing to say');

  // A new file where a column was inserted: its rows would map hum to temp.
  await writeFile(join(r.dir, 'logs', 'b.csv'), 'ts,hum,temp\n2,50,21\n');
  await waitLines(r, 2, 'the row of b.csv');
  await appendFile(join(r.dir, 'logs', 'b.csv'), '3,51,22\n');
  await waitLines(r, 3, 'a second row of b.csv');
  // Before: no word of it; {"ts":"2","temp":"50"} in the stream.
  assert.equal(warnings().length, 1, 'warned once for b.csv');
  assert.equal(warnings()[0]!.file, join(r.dir, 'logs', 'b.csv'));
  assert.match(String(warnings()[0]!.msg), /header line ts,hum,temp differs from the first header read \(ts,temp\)/);
  assert.equal(await metricValue(r.registry, 'gatehouse_file_header_changes_total', { source: 'app' }), 1);
  const b = fileStatuses(r).find((f) => f.path.endsWith('b.csv')) as unknown as { headerChanged?: boolean };
  assert.equal(b.headerChanged, true);
  assert.equal((fileStatuses(r).find((f) => f.path.endsWith('a.csv')) as unknown as { headerChanged?: boolean }).headerChanged, undefined);

  // After a restart, the first header is still the reference (saved with the offsets).
  await r.restart();
  await writeFile(join(r.dir, 'logs', 'c.csv'), 'ts,hum,temp\n4,52,23\n');
  await writeFile(join(r.dir, 'logs', 'd.csv'), 'ts,temp\n5,24\n');
  await waitLines(r, 5, 'the rows of c.csv and d.csv');
  await waitUntil(() => warnings().length === 2, 'a warning for c.csv');
  assert.equal(warnings()[1]!.file, join(r.dir, 'logs', 'c.csv'));
  assert.equal(warnings().length, 2, 'd.csv has the first header: no warning');
});

test('a CSV header with another number of columns than customFieldNames is warned about, also in the first file', async (t) => {
  const r = await rig(t, csv);
  await writeFile(join(r.dir, 'logs', 'a.csv'), '"ts","temp, C",hum\n1,20,50\n');
  await r.source.start(r.intake);
  await waitLines(r, 1, 'the row');
  const w = r.logs.filter((l) => l.code === 'GH_FILE_HEADER_CHANGED');
  assert.equal(w.length, 1);
  assert.match(String(w[0]!.msg), /differs from customFieldNames \(2 names: ts,temp\)/);
});
