// The `gatehouse detect` contract on small CSVs in a temp dir (in-process, real files/streams).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { tempDir } from '../helpers/index.js';
import { runDetect } from '../../gateway/cli/detect.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => outChunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  const code = await runDetect(argv, { stdout, stderr });
  return { code, out: Buffer.concat(outChunks).toString('utf8'), err: Buffer.concat(errChunks).toString('utf8') };
}

function csv(n: number, spikeAt = -1): string {
  const rows = ['timestamp,value'];
  for (let i = 0; i < n; i++) {
    const v = i === spikeAt ? 60 : 20 + Math.sin(i / 5) + ((i * 7919) % 13) / 26;
    rows.push(`2024-01-01 00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},${v}`);
  }
  return `${rows.join('\n')}\n`;
}

test('detect writes timestamp,value,anomaly_score, one row per input row', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'series.csv');
  await writeFile(file, csv(400, 350));
  const r = await run(['--input', file]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines[0], 'timestamp,value,anomaly_score');
  assert.equal(lines.length, 401);
  const scores = lines.slice(1).map((l) => Number(l.split(',')[2]));
  assert.ok(scores.every(Number.isFinite));
  assert.equal(lines[1]!.split(',')[0], '2024-01-01 00:00:00');
  const spike = scores[350]!;
  assert.ok(spike > Math.max(...scores.slice(300, 350)), 'the spike row has the top recent score');
});

test('strictly online: a prefix file scores exactly like the first rows of the full file', async (t) => {
  const dir = await tempDir(t);
  const full = csv(500, 420);
  const prefix = `${full.split('\n').slice(0, 301).join('\n')}\n`;
  await writeFile(join(dir, 'full.csv'), full);
  await writeFile(join(dir, 'prefix.csv'), prefix);
  for (const args of [[], ['--detector', 'rcf', '--param', 'numberOfTrees=20', '--param', 'subSampleSize=64'], ['--detector', 'zscore']]) {
    const a = await run([...args, '--input', join(dir, 'full.csv')]);
    const b = await run(['detect', ...args, '--input', join(dir, 'prefix.csv')]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const fullRows = a.out.trimEnd().split('\n');
    const prefixRows = b.out.trimEnd().split('\n');
    assert.equal(prefixRows.length, 301);
    assert.deepEqual(prefixRows, fullRows.slice(0, 301), `detector args ${args.join(' ')}`);
  }
});

test('a non-numeric value keeps its row with score 0 and warns once', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.csv');
  await writeFile(file, 'timestamp,value\n1,1.5\n2,abc\n3,\n4,2.5\n');
  const r = await run(['--detector', 'ewma', '--input', file]);
  assert.equal(r.code, 0);
  assert.deepEqual(r.out.trimEnd().split('\n').slice(1, 4), ['1,1.5,0', '2,abc,0', '3,,0']);
  assert.equal(r.out.trimEnd().split('\n').length, 5);
  assert.match(r.err, /bad\.csv:3: value 'abc' is not a number/);
  assert.match(r.err, /2 rows with a non-numeric value/);
});

test('bad input exits 2 with a clear message', async (t) => {
  const dir = await tempDir(t);
  const header = join(dir, 'header.csv');
  await writeFile(header, 'time,val\n1,2\n');
  const empty = join(dir, 'empty.csv');
  await writeFile(empty, '');
  const cases: Array<[string[], RegExp]> = [
    [['--input', join(dir, 'missing.csv')], /GH_INPUT_FILE: cannot use input .*missing\.csv: no such file/],
    [['--input', header], /header must be 'timestamp,value'/],
    [['--input', empty], /is empty/],
    [[], /--input FILE\.csv is required/],
    [['--detector', 'magic', '--input', header], /unknown detector 'magic'/],
    [['--detector', 'zscore', '--param', 'window=1', '--input', header], /GH_DETECTOR_PARAM: zscore: window=1/],
    [['--param', 'oops', '--input', header], /--param needs key=value/],
    // One value per CSV row: a detector for two inputs would score every row 0, silently.
    [['--detector', 'zscore', '--param', 'inputs=2', '--input', header], /inputs=2: the input CSV has one value per row .*inputs must be 1/],
    [['--detector', 'rcf', '--param', 'inputs=3', '--input', header], /inputs=3: .*inputs must be 1/],
    [['--bogus'], /unknown argument '--bogus'/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, `exit code for ${argv.join(' ')}`);
    assert.match(r.err, re);
  }
});

test('--help lists every detector and its params', async () => {
  const r = await run(['--help']);
  assert.equal(r.code, 0);
  for (const word of ['auto (default)', 'zscore', 'ewma', 'rcf', 'numberOfTrees=100', 'subSampleSize=256', 'timeDecay=100000', 'shingleSize=1', 'window=100']) {
    assert.ok(r.out.includes(word), `help mentions ${word}`);
  }
  // what it reads and prints: GH_INPUT_FILE's catalogue hint sends users to --help for the format
  assert.match(r.out, /FILE\.csv: the header 'timestamp,value', then one timestamp and one number per row/);
  assert.match(r.out, /Prints 'timestamp,value,anomaly_score', one row per input row/);
});

test('a score beyond a double is the largest finite number, as the SQL functions give it (detect printed Infinity)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'glitch.csv');
  const rows = ['timestamp,value'];
  for (let i = 0; i < 300; i++) rows.push(`${i},${20 + (i % 3) * 0.1}`);
  rows.push('300,1e308');
  await writeFile(file, `${rows.join('\n')}\n`);
  for (const argv of [['--detector', 'zscore', '--param', 'window=5'], ['--detector', 'ewma'], []]) {
    const r = await run([...argv, '--input', file]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trimEnd().split('\n').at(-1), '300,1e308,1.7976931348623157e+308', argv.join(' ') || 'auto');
  }
});

test('RFC 4180 quoting: a quoted timestamp holding a comma and a quoted number are read; every output row keeps three columns', async (t) => {
  // Spreadsheet exports quote a field holding the separator ("Jan 1, 2024 00:00") and some quote
  // every field. detect cut such a row at the comma inside the quotes: the value read was
  // ' 2024 00:00",20', not a number, so the detector never saw the series (every score 0).
  const dir = await tempDir(t);
  const file = join(dir, 'quoted.csv');
  const rows = ['timestamp,value'];
  for (let i = 0; i < 30; i++) rows.push(`"Jan 1, 2024 00:00:${String(i).padStart(2, '0')}","${i === 25 ? 60 : 20 + (i % 2) / 10}"`);
  rows.push('x,1,2'); // a row with a column too many: its value is not a number, and the output stays 3 columns
  await writeFile(file, `${rows.join('\n')}\n`);
  const r = await run(['--detector', 'zscore', '--param', 'window=20', '--input', file]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 32);
  assert.equal(lines[1], '"Jan 1, 2024 00:00:00","20",0');
  const spike = lines[26]!;
  assert.ok(spike.startsWith('"Jan 1, 2024 00:00:25","60",'), spike);
  assert.ok(Number(spike.slice(spike.lastIndexOf(',') + 1)) > 4, `the spike is scored: ${spike}`);
  assert.equal(lines[31], 'x,"1,2",0');
  assert.match(r.err, /:32: value '1,2' is not a number/);
});
