// The README says `--help` works on every command: each command and subcommand prints its usage on
// stdout and exits 0 (before, `opcua browse --help` was refused as an unknown option).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { main } from '../../gateway/cli/main.js';

const commands = [
  ['start'],
  ['check-config'],
  ['import-agent-config'],
  ['config-docs'],
  ['streams'],
  ['jobs'],
  ['sources'],
  ['passwd'],
  ['rules', 'eval'],
  ['rules', 'check'],
  ['rules', 'list'],
  ['rules', 'apply'],
  ['rules', 'rollback'],
  ['rules', 'sign'],
  ['rules', 'keygen'],
  ['detect'],
  ['simulate', 'serial'],
  ['simulate', 'mqtt'],
  ['errors'],
  ['opcua', 'browse'],
];

test('--help works on every command and subcommand: usage on stdout, exit 0', async () => {
  for (const argv of commands) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await main([...argv, '--help'], { stdout, stderr });
    assert.equal(code, 0, `${argv.join(' ')} --help exited ${code}: ${err}`);
    assert.match(out, /usage|Usage|GH_|#/, `${argv.join(' ')} --help printed no usage: ${out.slice(0, 200)}`);
  }
});

test('gatehouse --help lists every command', async () => {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  assert.equal(await main(['--help'], { stdout, stderr: new PassThrough() }), 0);
  const listed = new Set([...out.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]));
  const missing = [...new Set(commands.map((c) => c[0]!))].filter((c) => !listed.has(c));
  assert.deepEqual(missing, [], `commands missing from gatehouse --help:\n${out}`);
});

test('a command that cannot reach the gateway says so with its own code (not an argument error)', async () => {
  const { freePort } = await import('../helpers/index.js');
  const port = await freePort(); // free: nothing listens there
  for (const command of ['streams', 'jobs', 'sources']) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await main([command, '--admin', `http://127.0.0.1:${port}`], { stdout, stderr });
    assert.equal(code, 1, command);
    assert.match(err, new RegExp(`^gatehouse ${command}: GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http://127\\.0\\.0\\.1:\\d+`), command);
  }
});
