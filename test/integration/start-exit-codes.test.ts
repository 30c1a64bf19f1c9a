// `gatehouse start` exit codes, as systemd sees them (README "Exit codes", systemd/gatehouse.service):
// an error that starting again cannot fix (the config file, a file or rule it names, a data
// directory of a newer store format) exits 78 (EX_CONFIG), which RestartPreventExitStatus leaves
// failed instead of restarting every 2 s for ever; bad arguments exit 2; a failure that may pass
// (a port in use) exits 1 and is restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { repoRoot, tempDir } from '../helpers/index.js';
import { cliCommand } from '../helpers/gateway-process.js';
import { newDb } from '../../gateway/store/database.js';
import { KEY_FORMAT, u64 } from '../../gateway/store/codec.js';
import { EXIT_CONFIG, EXIT_DATA, EXIT_USAGE } from '../../gateway/cli/exit-codes.js';

async function start(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const { cmd, args: base } = cliCommand();
  const proc = spawn(cmd, [...base, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  let stdout = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stderr, stdout };
}

test('start: a config error exits 78 with the reason; bad arguments exit 2; a port in use exits 1', async (t) => {
  const dir = await tempDir(t);
  const ports = ['--mqtt-port', '0', '--admin-port', '0', '--data-dir', join(dir, 'data')];

  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'broker:\n  port: 1883\n');
  const invalid = await start(['--config', bad, ...ports]);
  assert.equal(invalid.code, EXIT_CONFIG, invalid.stderr);
  assert.match(invalid.stderr, /GH_CONFIG_INVALID: .*bad\.yaml is invalid/);
  assert.match(invalid.stderr, /broker\.port: unknown key/);
  assert.match(invalid.stderr, /exit 78 \(configuration error\): starting again cannot fix this/);

  const missing = await start(['--config', join(dir, 'nope.yaml'), ...ports]);
  assert.equal(missing.code, EXIT_CONFIG, missing.stderr);
  assert.match(missing.stderr, /GH_CONFIG_READ: cannot read the config file .*nope\.yaml: ENOENT/);

  // A rule set in the config that does not compile fails the start after the store opened.
  const rules = join(dir, 'rules.yaml');
  await writeFile(
    rules,
    'rules:\n  version: 1\n  rules:\n    - name: r\n      sql: "SELEC * FROM \'x\'"\n      actions: [{ type: stream, stream: archive }]\n',
  );
  const badRules = await start(['--config', rules, ...ports]);
  assert.equal(badRules.code, EXIT_CONFIG, badRules.stderr);
  assert.match(badRules.stderr, /GH_SQL_SYNTAX/);

  // A log level pino does not know: an argument error naming the levels (was pino's 'default
  // level:nope must be included in custom levels', exit 1: restarted for ever).
  const level = await start(['--log-level', 'nope', ...ports]);
  assert.equal(level.code, EXIT_USAGE, level.stderr);
  assert.match(level.stderr, /GH_ARG_INVALID: --log-level must be one of fatal, error, warn, info, debug, trace, silent, got 'nope'/);

  // A data directory that cannot be made (a file there): what, where, how to fix; 78.
  const file = join(dir, 'a-file');
  await writeFile(file, '');
  const notDir = await start(['--data-dir', file, '--mqtt-port', '0', '--admin-port', '0']);
  assert.equal(notDir.code, EXIT_CONFIG, notDir.stderr);
  assert.match(notDir.stderr, /GH_CONFIG_INVALID: the data directory .*a-file cannot be made \(EEXIST\) \(at dataDir\)\. Fix: /);

  const usage = await start(['--bogus']);
  assert.equal(usage.code, EXIT_USAGE, usage.stderr);
  assert.match(usage.stderr, /GH_ARG_INVALID: Unknown option '--bogus'/);

  // A port held by another process may be free at the next try: exit 1, restarted by systemd.
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  const busy = await start(['--mqtt-port', String(port), '--admin-port', '0', '--data-dir', join(dir, 'data')]);
  assert.equal(busy.code, 1, busy.stderr);
  assert.match(busy.stderr, /GH_BROKER_LISTEN/);
  // how to fix: where the port is set (the flag it came from too) and how to find the process holding it
  assert.match(
    busy.stderr,
    new RegExp(`ss -ltnp 'sport = :${port}' names it\\): stop it, or choose another port \\(broker\\.listeners\\[0\\]\\.port; --mqtt-port N\\)`),
  );
});

test('start: a data directory written in a store format this version does not read exits 78', async (t) => {
  const dir = await tempDir(t);
  const db = newDb(join(dir, 'data', 'store'));
  await db.open({ createIfMissing: true });
  await db.put(Buffer.from([KEY_FORMAT]), u64(99));
  await db.close();
  const r = await start(['--mqtt-port', '0', '--admin-port', '0', '--data-dir', join(dir, 'data')]);
  assert.equal(r.code, EXIT_CONFIG, r.stderr);
  assert.match(r.stderr, /GH_STORE_OPEN: .*store format 99 is not supported/);
  assert.match(r.stderr, /Fix: run the gatehouse version that wrote this data directory/);
});

test('the systemd unit does not restart on the codes a restart cannot fix, and README tables them', () => {
  const unit = readFileSync(join(repoRoot, 'systemd', 'gatehouse.service'), 'utf8');
  const prevent = /^RestartPreventExitStatus=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  assert.deepEqual(prevent.sort(), [String(EXIT_USAGE), String(EXIT_CONFIG), String(EXIT_DATA)].sort());
  assert.match(unit, /^StartLimitIntervalSec=\d+/m);
  assert.match(unit, /^StartLimitBurst=\d+/m);
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  for (const code of ['0', '1', '2', '65', '78', '130, 143']) assert.match(readme, new RegExp(`^\\| ${code} \\|`, 'm'), `README exit code table has ${code}`);
});
