// `gatehouse detect` run as a user runs it (the real CLI, a child process): every kind of input it
// cannot use says its code, where and how to fix it on one line, and exits 2 (README "Exit codes",
// docs/anomaly.md): bad arguments GH_ARG_INVALID with the usage, an unknown detector or a bad param
// GH_DETECTOR_PARAM, a CSV that is missing, a directory, empty or without the header GH_INPUT_FILE.
// Before, the arguments and the file errors printed without a code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliCommand } from '../helpers/gateway-process.js';
import { removeTempDir } from '../helpers/index.js';

/** `gatehouse detect ...argv` in `cwd`: its exit code and stderr. */
function detect(cwd: string, argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const { cmd, args } = cliCommand();
  return new Promise((resolve) => {
    execFile(cmd, [...args, 'detect', ...argv], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, err: stderr, out: stdout });
    });
  });
}

const USAGE = /\. Fix: usage: gatehouse detect \[--detector NAME\] \[--param key=value \.\.\.\] --input FILE\.csv\n$/;
const FORMAT = /\. Fix: the first line is the header 'timestamp,value', then one timestamp and one number per row/;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-detect-cli-'));
  await writeFile(join(dir, 'ok.csv'), 'timestamp,value\n1,20\n2,21\n');
  await writeFile(join(dir, 'header.csv'), 'ts;val\n1;2\n');
  await writeFile(join(dir, 'empty.csv'), '');
  // Not the CSV: 2 MiB without a line break (a binary, a minified JSON). readline held it whole.
  await writeFile(join(dir, 'oneline.json'), `[${'1,'.repeat(1024 * 1024)}1]`);
  await writeFile(join(dir, 'longrow.csv'), `timestamp,value\n1,20\n2,${'9'.repeat(2 * 1024 * 1024)}\n`);
});
after(() => removeTempDir(dir));

const cases: Array<[string, string[], RegExp[]]> = [
  ['an unknown argument', ['--input', 'ok.csv', '--frob'], [/^gatehouse detect: GH_ARG_INVALID: unknown argument '--frob'/, USAGE]],
  ['no --input', [], [/^gatehouse detect: GH_ARG_INVALID: --input FILE\.csv is required/, USAGE]],
  ['a --param without =', ['--input', 'ok.csv', '--param', 'window'], [/^gatehouse detect: GH_ARG_INVALID: --param needs key=value/, USAGE]],
  ['--detector without a name', ['--input', 'ok.csv', '--detector'], [/^gatehouse detect: GH_ARG_INVALID: --detector needs a name/, USAGE]],
  [
    'an unknown detector',
    ['--input', 'ok.csv', '--detector', 'magic'],
    [/^gatehouse detect: GH_DETECTOR_PARAM: unknown detector 'magic'.*\. Fix: use one of /],
  ],
  [
    'a param out of range',
    ['--input', 'ok.csv', '--detector', 'zscore', '--param', 'window=1'],
    [/^gatehouse detect: GH_DETECTOR_PARAM: zscore: window=1 .*\(at detector zscore, param window\)\. Fix: /],
  ],
  [
    'inputs other than 1',
    ['--input', 'ok.csv', '--detector', 'zscore', '--param', 'inputs=2'],
    [
      /^gatehouse detect: GH_DETECTOR_PARAM: --param inputs=2: the input CSV has one value per row .* \(at detector zscore, param inputs\)\. Fix: leave inputs out/,
    ],
  ],
  [
    'a missing file',
    ['--input', 'missing.csv'],
    [
      /^gatehouse detect: GH_INPUT_FILE: cannot use input missing\.csv: no such file \(at --input\)\. Fix: check the path \(relative to the working directory\)/,
    ],
  ],
  ['a directory', ['--input', '.'], [/^gatehouse detect: GH_INPUT_FILE: cannot use input \.: a directory, not a file \(at --input\)/]],
  [
    'a file without the header',
    ['--input', 'header.csv'],
    [/^gatehouse detect: GH_INPUT_FILE: cannot use input header\.csv: header must be 'timestamp,value', got 'ts;val' \(at header\.csv:1\)/, FORMAT],
  ],
  ['an empty file', ['--input', 'empty.csv'], [/^gatehouse detect: GH_INPUT_FILE: cannot use input empty\.csv: the file is empty .*\(at empty\.csv\)/, FORMAT]],
  [
    'a file without line breaks',
    ['--input', 'oneline.json'],
    [
      /^gatehouse detect: GH_INPUT_FILE: cannot use input oneline\.json: line 1 is longer than 1048576 bytes: not a 'timestamp,value' CSV \(at oneline\.json:1\)/,
      FORMAT,
    ],
  ],
];

for (const [what, argv, expected] of cases) {
  test(`gatehouse detect with ${what}: its GH_ code, where and the fix on one line, exit 2`, { timeout: 60_000 }, async () => {
    const r = await detect(dir, argv);
    assert.equal(r.code, 2, `exit code (${r.err})`);
    assert.equal(r.out, '', 'nothing on stdout');
    assert.equal(r.err.trimEnd().split('\n').length, 1, r.err);
    for (const re of expected) assert.match(r.err, re);
  });
}

test('gatehouse detect with a good file still scores it (exit 0)', { timeout: 60_000 }, async () => {
  const ok = await detect(dir, ['--input', 'ok.csv']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^timestamp,value,anomaly_score\n1,20,/);
});

test('gatehouse detect with a row longer than 1 MiB stops there: the rows before it scored, then GH_INPUT_FILE naming the line, exit 2', {
  timeout: 60_000,
}, async () => {
  const r = await detect(dir, ['--input', 'longrow.csv']);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, 'timestamp,value,anomaly_score\n1,20,0\n');
  assert.match(
    r.err,
    /^gatehouse detect: GH_INPUT_FILE: cannot use input longrow\.csv: line 3 is longer than 1048576 bytes: not a 'timestamp,value' CSV \(at longrow\.csv:3\)/,
  );
});
