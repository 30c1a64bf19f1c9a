// Arguments a user can get wrong on the commands that took anything (ops audit): each is refused
// with exit 2 and the usage, or a file error says what, where and how to fix it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';

test('passwd with an unquoted password of several words is refused, not the hash of its first word', async () => {
  const r = await runCaptured(main, ['passwd', 'my', 'secret', 'phrase']);
  assert.equal(r.code, 2, r.out);
  assert.equal(r.out, '', 'no hash printed');
  assert.match(r.err, /GH_ARG_INVALID: expected one PASSWORD, got 3 arguments.*Fix: quote a password with spaces: gatehouse passwd 'my secret phrase'/);
  const one = await runCaptured(main, ['passwd', 'truck7-secret']);
  assert.equal(one.code, 0);
  assert.match(one.out, /^scrypt\$/);
});

test('rules apply: a second FILE is refused; a missing FILE is GH_CONFIG_READ with where and how to fix', async () => {
  const two = await runCaptured(main, ['rules', 'apply', 'a.yaml', 'b.yaml']);
  assert.equal(two.code, 2);
  assert.match(two.err, /GH_ARG_INVALID: expected one rule set FILE, got 2/);
  const missing = await runCaptured(main, ['rules', 'apply', '/nonexistent/rules.yaml', '--admin', 'http://127.0.0.1:1']);
  assert.equal(missing.code, 1);
  assert.match(
    missing.err,
    /^gatehouse rules: GH_CONFIG_READ: cannot read the rule set file \/nonexistent\/rules\.yaml: ENOENT \(no such file or directory\) \(at \/nonexistent\/rules\.yaml\)\. Fix: check the path/,
  );
});

test('errors and config-docs refuse unknown options and arguments (exit 2) instead of ignoring them', async () => {
  for (const argv of [
    ['errors', '--json'],
    ['errors', 'GH_CONFIG_READ'],
    ['config-docs', '--bogus'],
    ['config-docs', 'extra'],
  ]) {
    const r = await runCaptured(main, argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /GH_ARG_INVALID: .*Fix: usage: gatehouse (errors|config-docs)/, argv.join(' '));
    assert.equal(r.out, '', argv.join(' '));
  }
  assert.equal((await runCaptured(main, ['errors', '--markdown'])).code, 0);
  assert.equal((await runCaptured(main, ['config-docs'])).code, 0);
});

test('a command given --config of a gateway whose admin API is disabled says so, not "start the gateway"', async (t) => {
  const { tempDir } = await import('../helpers/index.js');
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = await tempDir(t);
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(config, 'admin:\n  enabled: false\n');
  for (const argv of [['status'], ['streams'], ['rules', 'list']]) {
    const r = await runCaptured(main, [...argv, '--config', config]);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.err, /GH_ADMIN_UNREACHABLE: the admin API is disabled in .*gatehouse\.yaml \(admin\.enabled: false\)/, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /Fix: set admin\.enabled: true and restart the gateway/);
  }
});

test('a command given --config with admin.port 0, or --admin with port 0, says the port is unknown, not "ECONNREFUSED 127.0.0.1:80"', async (t) => {
  const { tempDir } = await import('../helpers/index.js');
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = await tempDir(t);
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(config, 'admin:\n  port: 0\n');
  for (const argv of [['status'], ['streams'], ['rules', 'list']]) {
    const r = await runCaptured(main, [...argv, '--config', config]);
    assert.equal(r.code, 1, argv.join(' '));
    assert.doesNotMatch(r.err, /:80\b/, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /GH_ADMIN_UNREACHABLE: .*gatehouse\.yaml has admin\.port: 0 \(a free port picked at each start\)/, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /Fix: pass --admin http:\/\/127\.0\.0\.1:PORT with the port of the gateway's 'admin API listening' log line/);
  }
  const url = await runCaptured(main, ['status', '--admin', 'http://127.0.0.1:0']);
  assert.equal(url.code, 2, url.err);
  assert.doesNotMatch(url.err, /:80\b/, url.err);
  assert.match(url.err, /GH_ARG_INVALID: --admin 'http:\/\/127\.0\.0\.1:0' names port 0, which no server listens on \(at --admin\)/);
});

test('simulate serial|mqtt: a bad argument is one line naming the command, GH_ARG_INVALID and the fix, exit 2 (an unknown option had no code)', async () => {
  for (const argv of [
    ['simulate', 'mqtt', '--frob'],
    ['simulate', 'mqtt', '--devices'],
    ['simulate', 'mqtt', '--devices', '0'],
    ['simulate', 'mqtt', '--qos', '2'],
    ['simulate', 'serial', '--frob'],
    ['simulate', 'serial'],
    ['simulate', 'serial', '--port', '/dev/null', '--rate', 'fast'],
  ]) {
    const r = await runCaptured(main, argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /^gatehouse simulate: GH_ARG_INVALID: .*\. Fix: see --help\n/, argv.join(' '));
    assert.equal(r.out, '', argv.join(' '));
  }
});

test("opcua browse with an --endpoint that is not opc.tcp:// says so (it said '--endpoint ... is required' of one given)", async () => {
  for (const endpoint of ['192.168.1.20:4840', 'http://plc:4840']) {
    const r = await runCaptured(main, ['opcua', 'browse', '--endpoint', endpoint]);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      new RegExp(
        `^gatehouse opcua: GH_ARG_INVALID: --endpoint '${endpoint.replaceAll('.', '\\.')}' is not an opc\\.tcp:// URL \\(at --endpoint\\)\\. Fix: e\\.g\\. --endpoint opc\\.tcp://`,
      ),
    );
  }
  const none = await runCaptured(main, ['opcua', 'browse']);
  assert.equal(none.code, 2);
  assert.match(none.err, /GH_ARG_INVALID: --endpoint opc\.tcp:\/\/HOST:PORT is required\. Fix: usage: gatehouse opcua browse/);
});

test('a misspelt option is named with the one it is nearest to; one near none is named alone', async () => {
  // Before: "Unknown option '--confg'" and the usage line, to be compared letter by letter.
  for (const [argv, flag] of [
    [['start', '--confg', 'gw.yaml'], '--config'],
    [['streams', '--admn', 'http://127.0.0.1:1'], '--admin'],
    [['rules', 'list', '--tokn', 't'], '--token'],
    [['opcua', 'browse', '--endpont', 'opc.tcp://127.0.0.1:1'], '--endpoint'],
  ] as const) {
    const r = await runCaptured(main, [...argv]);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, new RegExp(`GH_ARG_INVALID: Unknown option '${argv.at(-2)}' \\(did you mean ${flag}\\?\\)\\. Fix: usage: `), argv.join(' '));
  }
  const far = await runCaptured(main, ['start', '--bogus']);
  assert.equal(far.code, 2);
  assert.match(far.err, /GH_ARG_INVALID: Unknown option '--bogus'\. Fix: usage: gatehouse start /);
});

test('opcua browse --timeout takes a whole number of milliseconds: a word or 0 is refused before connecting (exit 2)', async () => {
  // Before: the browse connected and failed with 'did not finish within NaN ms', exit 1.
  for (const value of ['abc', '0', '1.5']) {
    const r = await runCaptured(main, ['opcua', 'browse', '--endpoint', 'opc.tcp://127.0.0.1:1', '--timeout', value, '--data-dir', '/nonexistent/never-made']);
    assert.equal(r.code, 2, `${value}: ${r.err}`);
    assert.match(
      r.err,
      new RegExp(
        `GH_ARG_INVALID: --timeout must be a whole number of milliseconds, 1 or more, got '${value.replace('.', '\\.')}' \\(at --timeout\\)\\. Fix: e\\.g\\. --timeout 10000`,
      ),
    );
  }
});

test('a misspelt command is named with the one it is nearest to, and the overview lists what start and errors take', async () => {
  const r = await runCaptured(main, ['stream']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^gatehouse: unknown command 'stream' \(did you mean streams\?\)\n\n/);
  const far = await runCaptured(main, ['frobnicate']);
  assert.match(far.err, /^gatehouse: unknown command 'frobnicate'\n\n/);
  // The overview's start line left out --log-level, its errors line --markdown (both in their --help).
  const help = await runCaptured(main, ['--help']);
  assert.match(help.out, /\n {2}start \[--config FILE\] \[--data-dir DIR\] \[--mqtt-port N\] \[--admin-port N\] \[--log-level LEVEL\] /);
  assert.match(help.out, /\n {2}errors \[--markdown\] /);
});
