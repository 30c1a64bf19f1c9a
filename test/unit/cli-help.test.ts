// The README says `--help` works on every command: each command and subcommand prints its usage on
// stdout and exits 0 (before, `opcua browse --help` was refused as an unknown option).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { freePort } from '../helpers/index.js';

const commands = [
  ['start'],
  ['check-config'],
  ['import-agent-config'],
  ['config-docs'],
  ['status'],
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
    const { code, out, err } = await runCaptured(main, [...argv, '--help']);
    assert.equal(code, 0, `${argv.join(' ')} --help exited ${code}: ${err}`);
    assert.match(out, /usage|Usage|GH_|#/, `${argv.join(' ')} --help printed no usage: ${out.slice(0, 200)}`);
  }
});

test('opcua browse --help says what it does and what each option of its usage line means', async () => {
  // Before: the usage line alone, with nothing on --trust-server, --data-dir or --timeout's default.
  const { code, out } = await runCaptured(main, ['opcua', 'browse', '--help']);
  assert.equal(code, 0);
  const [usage, ...rest] = out.trimEnd().split('\n');
  assert.match(usage!, /^usage: gatehouse opcua browse /);
  assert.match(rest[0]!, /^Lists the children of an OPC UA node/);
  for (const flag of usage!.match(/--[a-z-]+/g) ?? []) {
    assert.ok(
      rest.some((l) => new RegExp(`^ {2}(--[a-z-]+ [A-Z]+ )?${flag}\\b`).test(l)),
      `${flag} is explained on a line of its own:\n${out}`,
    );
  }
  assert.match(out, /--timeout MS {10}connect and session timeout \(default 10000\)/);
});

test("rules list|apply|rollback --help print that subcommand's usage and flags, not the whole rules usage", async () => {
  for (const sub of ['list', 'apply', 'rollback']) {
    const { code, out } = await runCaptured(main, ['rules', sub, '--help']);
    assert.equal(code, 0, sub);
    assert.match(out, new RegExp(`^usage: gatehouse rules ${sub} `), sub);
    assert.doesNotMatch(out, /rules eval|rules sign|rules keygen/, `${sub} --help printed the whole rules usage:\n${out}`);
    assert.match(out, /--admin URL {2,}/, `${sub} --help explains its flags`);
  }
  // An argument error names the subcommand's usage too (once: it said 'usage: usage: ...').
  const { code, err } = await runCaptured(main, ['rules', 'rollback', '--nope']);
  assert.equal(code, 2);
  assert.match(err, /usage: gatehouse rules rollback \[/);
  assert.doesNotMatch(err, /usage: usage:|rules eval/);
});

test('rules sign --help explains each option of its usage lines (--key, --key-id and --out were not)', async () => {
  const { code, out } = await runCaptured(main, ['rules', 'sign', '--help']);
  assert.equal(code, 0);
  const usage = out.split('\n').filter((l) => /^(usage: | {7})gatehouse rules sign/.test(l));
  assert.equal(usage.length, 2, out);
  for (const flag of new Set(usage.join(' ').match(/--[a-z-]+/g) ?? [])) {
    assert.match(out, new RegExp(`^${flag} {2,}\\S`, 'm'), `${flag} is explained on a line of its own:\n${out}`);
  }
});

test('every command that talks to the running gateway explains --admin, --config, --token and --json in its --help', async () => {
  // Only rules list|apply|rollback did: `status --help` showed `[--token T]` alone, and a user
  // refused for the token (401) learnt nothing of GATEHOUSE_ADMIN_TOKEN or --config's admin.token.
  const all = [...commands, ['streams', 'dead-letters'], ['streams', 'redrive'], ['streams', 'purge'], ['streams', 'drop']];
  let checked = 0;
  for (const argv of all) {
    const { out } = await runCaptured(main, [...argv, '--help']);
    const usage = out.split('\n')[0]!;
    if (!usage.includes('--admin URL')) continue;
    checked++;
    const name = argv.join(' ');
    assert.match(out, /^ {2}--admin URL {2,}the gateway's admin API \(default http:\/\/127\.0\.0\.1:9883\)$/m, `${name}:\n${out}`);
    assert.match(out, /^ {2}--config FILE {2,}read the admin address, admin\.token/m, `${name}:\n${out}`);
    assert.match(out, /^ {2}--token T {2,}.*GATEHOUSE_ADMIN_TOKEN/m, `${name}:\n${out}`);
    if (usage.includes('--json')) assert.match(out, /^ {2}--json {2,}\S/m, `${name}:\n${out}`);
  }
  assert.equal(checked, 11, 'status, streams (and its 4), jobs, sources, rules list|apply|rollback');
});

test('start --help says which setting each flag overrides (--mqtt-port only the first listener) and the log levels', async () => {
  const { code, out } = await runCaptured(main, ['start', '--help']);
  assert.equal(code, 0);
  assert.match(out, /--mqtt-port\s+the port of its first listener \(broker\.listeners\[0\]; the others keep theirs\)/);
  assert.match(out, /--log-level log\.level \(fatal, error, warn, info, debug, trace, silent\)/);
  assert.match(out, /--data-dir its dataDir/);
});

test('gatehouse --help lists every command', async () => {
  const { code, out } = await runCaptured(main, ['--help']);
  assert.equal(code, 0);
  const listed = new Set([...out.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]));
  const missing = [...new Set(commands.map((c) => c[0]!))].filter((c) => !listed.has(c));
  assert.deepEqual(missing, [], `commands missing from gatehouse --help:\n${out}`);
});

test('gatehouse --help names every subcommand (rules keygen was missing from `rules eval|check|...`)', async () => {
  const { out } = await runCaptured(main, ['--help']);
  const missing = commands
    .filter((c) => c.length === 2)
    .filter(([command, sub]) => !new RegExp(`^ {2}${command} (?:[a-z]+\\|)*${sub}\\b`, 'm').test(out))
    .map((c) => c.join(' '));
  assert.deepEqual(missing, [], `subcommands missing from gatehouse --help:\n${out}`);
});

test('a command that cannot reach the gateway says so with its own code (not an argument error)', async (t) => {
  const port = await freePort(t); // free: nothing listens there
  for (const command of ['status', 'streams', 'jobs', 'sources']) {
    const { code, err } = await runCaptured(main, [command, '--admin', `http://127.0.0.1:${port}`]);
    assert.equal(code, 1, command);
    assert.match(err, new RegExp(`^gatehouse ${command}: GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http://127\\.0\\.0\\.1:\\d+`), command);
  }
});

test('--admin that is not an http(s) URL is an argument error (exit 2) naming the flag, not "cannot reach the gateway: start it"', async () => {
  for (const [command, url] of [
    ['streams', 'notaurl'],
    ['jobs', '127.0.0.1:9883'],
    ['rules', 'ftp://127.0.0.1:9883'],
  ] as const) {
    const argv = command === 'rules' ? ['rules', 'list', '--admin', url] : [command, '--admin', url];
    const { code, err } = await runCaptured(main, argv);
    assert.equal(code, 2, `${argv.join(' ')}: ${err}`);
    assert.match(err, /GH_ARG_INVALID: --admin '.*' is not an http:\/\/ or https:\/\/ URL/, argv.join(' '));
    assert.match(err, /--admin http:\/\/127\.0\.0\.1:9883/, `${argv.join(' ')}: an example in the hint`);
  }
});

test('--admin pointing at a port that hangs up on HTTP (the MQTT port, say) names that case besides HTTPS', async (t) => {
  const { createServer } = await import('node:net');
  // What the embedded broker does with an HTTP request: not MQTT, the connection is dropped.
  const server = createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as import('node:net').AddressInfo).port;
  const { code, err } = await runCaptured(main, ['streams', '--admin', `http://127.0.0.1:${port}`]);
  assert.equal(code, 1);
  assert.match(err, /GH_ADMIN_UNREACHABLE/);
  assert.match(err, /the MQTT port rather than the admin port \(admin\.port, default 9883\)/);
  assert.match(err, /https:\/\/HOST:PORT/);
});

test('simulate mqtt to a broker that is not there says it cannot connect (GH_PEER_UNREACHABLE, exit 1), not that an argument is wrong', async (t) => {
  const port = await freePort(t); // nothing listens on it
  const { code, err } = await runCaptured(main, ['simulate', 'mqtt', '--url', `mqtt://127.0.0.1:${port}`, '--duration', '1s']);
  assert.equal(code, 1);
  assert.match(err, new RegExp(`^gatehouse simulate: GH_PEER_UNREACHABLE: cannot connect to mqtt://127.0.0.1:${port}: .*ECONNREFUSED`));
  assert.match(err, /Fix: check that the broker is running/);
  assert.doesNotMatch(err, /GH_ARG_INVALID|usage:/);
});
