// A record emitted without its newline (partialLineTimeoutMs) or cut at maxLineBytes is marked by
// the user property `partial` / `cut`, and, for a raw line, by partialLineMarker at its end. With
// CSVTOJSON or LOGTOJSON the marker is not put into the line before it is parsed: the last row of
// a CSV file saved without a final newline (Excel, many Windows tools) became
// {"ts":"2","temp":"21 [partial]"} (found by a user trial, round 39). Real files and a real store
// (test/helpers/file-rig.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readAll } from '../helpers/store-intake.js';
import { fileRig as rig, waitLines } from '../helpers/file-rig.js';

test('the last CSV row without a newline is parsed without the marker in its last column; the user property marks it', async (t) => {
  const r = await rig(t, {
    paths: ['logs/*.csv'],
    skipHeaderLines: 1,
    partialLineTimeoutMs: 200,
    dataProcessingOptions: [{ optionName: 'CSVTOJSON', customFieldNames: ['ts', 'temp'] }],
  });
  await writeFile(join(r.dir, 'logs', 'excel.csv'), 'ts,temp\r\n1,20\r\n2,21');
  await r.source.start(r.intake);
  const lines = await waitLines(r, 2, 'both rows, the last one after the partial-line timeout');
  assert.deepEqual(
    lines.map((l) => JSON.parse(l)),
    [
      { ts: '1', temp: '20' },
      { ts: '2', temp: '21' },
    ],
  );
  const recs = await readAll(r.store, 'logs');
  assert.equal(recs[1]!.attrs?.partial, 'true');
  assert.equal(recs[1]!.attrs?.['parse-error'], undefined, 'the row parsed as any other');
});

test('a cut Apache log line LOGTOJSON cannot read is kept as written, with the marker, as a raw line is', async (t) => {
  const r = await rig(t, {
    paths: ['logs/*.log'],
    maxLineBytes: 90,
    dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }],
  });
  const line = `10.0.0.7 - bob [07/Mar/2004:16:11:00 -0800] "GET /${'a'.repeat(200)} HTTP/1.1" 200 12`;
  await writeFile(join(r.dir, 'logs', 'access.log'), `${line}\n`);
  await r.source.start(r.intake);
  const [kept] = await waitLines(r, 1, 'the cut line');
  // The cut line does not match the pattern: kept raw (onParseError: raw), marked as cut.
  assert.equal(kept, `${line.slice(0, 90)} [partial]`);
  const recs = await readAll(r.store, 'logs');
  assert.equal(recs[0]!.attrs?.cut, 'true');
  assert.match(String(recs[0]!.attrs?.['parse-error']), /^LOGTOJSON/);

  // A line cut inside a field LOGTOJSON reads: the field is parsed without the marker.
  await writeFile(join(r.dir, 'logs', 'b.log'), `10.0.0.8 - - [07/Mar/2004:16:11:00 -0800] "GET / HTTP/1.1" 200 ${'9'.repeat(100)}\n`);
  const [parsed] = (await waitLines(r, 2, 'the line cut in its last field')).slice(1);
  assert.equal(JSON.parse(parsed!).bytes, '9'.repeat(90 - '10.0.0.8 - - [07/Mar/2004:16:11:00 -0800] "GET / HTTP/1.1" 200 '.length));

  const raw = await rig(t, { paths: ['logs/*.log'], partialLineTimeoutMs: 200 });
  await writeFile(join(raw.dir, 'logs', 'app.log'), 'no newline yet');
  await raw.source.start(raw.intake);
  assert.deepEqual(await waitLines(raw, 1, 'the partial raw line'), ['no newline yet [partial]']);
});
