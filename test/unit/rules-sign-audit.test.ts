// `gatehouse rules sign` from the user's seat (round 13 audit): mistakes an operator makes at the
// office are refused there, with what to fix, rather than signed into a document every gateway
// refuses, or reported as a bare Node error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../../gateway/cli/main.js';
import { generateSigningKeys } from '../../gateway/control/signing.js';
import { tempDir } from '../helpers/index.js';
import { runCaptured, type CliRun } from '../helpers/cli-capture.js';

function gatehouse(argv: string[]): Promise<CliRun> {
  return runCaptured(main, argv);
}

const RULES = 'version: 5\nrules:\n  - name: keep\n    sql: "SELECT * FROM \'dev/+/t\'"\n    actions: [{ stream: { name: tele } }]\n';

test('rules sign: --targets naming no gateway (",", " ") is refused, not signed into a document every gateway refuses', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ops.key'), generateSigningKeys().privateKeyPem);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  for (const targets of [',', ' , ']) {
    const r = await gatehouse(['rules', 'sign', join(dir, 'rules.yaml'), '--key', join(dir, 'ops.key'), '--targets', targets]);
    assert.equal(r.code, 2, `--targets '${targets}': ${r.out}`);
    assert.equal(r.out, '');
    assert.match(r.err, /GH_ARG_INVALID: --targets/);
  }
  const ok = await gatehouse(['rules', 'sign', join(dir, 'rules.yaml'), '--key', join(dir, 'ops.key'), '--targets', 'site7, depot']);
  assert.equal(ok.code, 0, ok.err);
});

test('rules sign: a rule set file or key file that does not exist is named as missing (not "not JSON/YAML", not a bare ENOENT)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ops.key'), generateSigningKeys().privateKeyPem);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  const noFile = await gatehouse(['rules', 'sign', join(dir, 'nofile.yaml'), '--key', join(dir, 'ops.key'), '--targets', 'site7']);
  assert.equal(noFile.code, 2, noFile.out);
  assert.match(noFile.err, /GH_ARG_INVALID: .*nofile\.yaml.*(does not exist|cannot be read)/);
  assert.doesNotMatch(noFile.err, /not JSON\/YAML/);
  const noKey = await gatehouse(['rules', 'sign', join(dir, 'rules.yaml'), '--key', join(dir, 'nokey'), '--targets', 'site7']);
  assert.equal(noKey.code, 2, noKey.out);
  assert.match(noKey.err, /GH_ARG_INVALID: --key .*nokey.*(does not exist|cannot be read)/);
  assert.match(noKey.err, /keygen/);
});

test('rules sign: a set with force is refused (every gateway refuses a signed force); --version gives a version to a file without one', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ops.key'), generateSigningKeys().privateKeyPem);
  await writeFile(join(dir, 'force.yaml'), `force: true\n${RULES}`);
  const forced = await gatehouse(['rules', 'sign', join(dir, 'force.yaml'), '--key', join(dir, 'ops.key'), '--targets', 'site7']);
  assert.equal(forced.code, 2, forced.out);
  assert.equal(forced.out, '');
  assert.match(forced.err, /GH_ARG_INVALID: .*force\.yaml has 'force'.*Fix: .*--rollback-to/);
  await writeFile(join(dir, 'nov.yaml'), RULES.replace('version: 5\n', ''));
  const noVersion = await gatehouse(['rules', 'sign', join(dir, 'nov.yaml'), '--key', join(dir, 'ops.key'), '--targets', 'site7']);
  assert.equal(noVersion.code, 2, noVersion.out);
  assert.match(noVersion.err, /has no version: give --version N/);
  const given = await gatehouse(['rules', 'sign', join(dir, 'nov.yaml'), '--key', join(dir, 'ops.key'), '--targets', 'site7', '--version', '7']);
  assert.equal(given.code, 0, given.err);
  const doc = JSON.parse(Buffer.from((JSON.parse(given.out) as { ruleSet: string }).ruleSet, 'base64').toString()) as {
    version: number;
    ruleSet: { version: number };
  };
  assert.equal(doc.version, 7);
  assert.equal(doc.ruleSet.version, 7);
});
