// What a user reads for five errors whose throw sites used to word their own text, unlike the
// catalogue (core/error-catalogue.ts, docs/errors.md): a missing admin token, an unknown stream, a
// record too large for its stream, a store that cannot open and a file that cannot be read. Each
// is asserted from the outside: the admin API's answer, the CLI's line, the rule status, the exit
// line of `gatehouse start`. A real in-process gateway (broker, store, admin API), real mqtt.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { ERROR_CATALOGUE } from '../../core/errors.js';
import { main } from '../../gateway/cli/main.js';
import { newDb } from '../../gateway/store/database.js';
import { FORMAT_VERSION, KEY_FORMAT, u64 } from '../../gateway/store/codec.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { cliCommand } from '../helpers/gateway-process.js';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';

const TOKEN = '0123456789abcdef0123';

async function startWithToken(t: import('node:test').TestContext): Promise<Gateway> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      `admin: { token: "${TOKEN}" }`,
      'streams:',
      '  tele: { maxBytes: 4096, localOnly: true }',
      'rules:',
      '  version: 1',
      '  rules:',
      '    - { name: keep, sql: "SELECT * FROM \'a/#\'", actions: [{ stream: { name: tele } }] }',
      '',
    ].join('\n'),
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

function adminUrl(gw: Gateway): string {
  return `http://127.0.0.1:${gw.admin!.address().port}`;
}

test('the admin API without its token, and the CLI that calls it: the catalogue message and hint, the code once', async (t) => {
  const gw = await startWithToken(t);
  const spec = ERROR_CATALOGUE.GH_ADMIN_UNAUTHORIZED;
  const res = await fetch(`${adminUrl(gw)}/api/streams`);
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { error: { code: 'GH_ADMIN_UNAUTHORIZED', message: spec.message, hint: spec.hint } });
  // --token given wrong, so that a GATEHOUSE_ADMIN_TOKEN of the environment cannot interfere
  const cli = await runCaptured(main, ['streams', '--admin', adminUrl(gw), '--token', 'wrong-token-wrong-token']);
  assert.equal(cli.code, 1);
  assert.equal(cli.err, `gatehouse streams: GH_ADMIN_UNAUTHORIZED: admin API GET /api/streams answered 401: ${spec.message}. Fix: ${spec.hint}\n`);
});

test('a rule set writing an unknown stream, applied with the CLI: the catalogue message', async (t) => {
  const gw = await startWithToken(t);
  const dir = await tempDir(t);
  const file = join(dir, 'r.yaml');
  await writeFile(file, 'version: 2\nrules:\n  - { name: lost, sql: "SELECT * FROM \'b/#\'", actions: [{ stream: { name: nope } }] }\n');
  const cli = await runCaptured(main, ['rules', 'apply', file, '--admin', adminUrl(gw), '--token', TOKEN]);
  assert.equal(cli.code, 1, cli.err);
  assert.match(
    cli.err,
    /rule lost \(actions\[0\]\.stream\): GH_STREAM_UNKNOWN: local stream 'nope' is not defined \(fix: define it under streams in the config/,
  );
});

test('a record larger than its stream: the catalogue message in the rule status', async (t) => {
  const gw = await startWithToken(t);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0, protocolVersion: 5 });
  t.after(() => client.endAsync());
  // refused with a negative PUBACK (0x97, quota exceeded): the record cannot be stored
  await assert.rejects(client.publishAsync('a/x', 'x'.repeat(5000), { qos: 1 }));
  const rule = await waitUntil(
    async () => {
      const res = await fetch(`${adminUrl(gw)}/api/rules`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as { rules: Array<{ name: string; lastError?: string }> };
      return body.rules.find((r) => r.name === 'keep' && r.lastError);
    },
    'the rule reports the failed action',
    5000,
  );
  assert.equal(
    rule.lastError,
    "stream action: GH_RECORD_TOO_LARGE: a record of 5003 bytes exceeds the maxBytes 4096 of stream 'tele' (at tele a/x). Fix: raise streams.tele.maxBytes or limit the payload size",
  );
});

test('a store that cannot open: the catalogue message, naming the store directory once', async (t) => {
  const dir = await tempDir(t);
  const db = newDb(join(dir, 'data', 'store'));
  await db.open({ createIfMissing: true });
  await db.put(Buffer.from([KEY_FORMAT]), u64(99));
  await db.close();
  const { cmd, args } = cliCommand();
  const proc = spawn(cmd, [...args, 'start', '--mqtt-port', '0', '--admin-port', '0', '--data-dir', join(dir, 'data')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await once(proc, 'exit');
  const line = stderr.split('\n').find((l) => l.includes('GH_STORE_OPEN')) ?? stderr;
  assert.equal(
    line,
    `gatehouse start: GH_STORE_OPEN: cannot open the local stream store at ${join(dir, 'data', 'store')}: its store format 99 is not supported (this version reads ${FORMAT_VERSION}). Fix: run the gatehouse version that wrote this data directory, or move the directory away`,
  );
});

test('a config, rule set or agent file that cannot be read: the catalogue message, what the file is for, and how to fix', async (t) => {
  const dir = await tempDir(t);
  const nope = join(dir, 'nope.yaml');
  const expected = (cmd: string, what: string, hint: string): string =>
    `gatehouse ${cmd}: GH_CONFIG_READ: cannot read the ${what} ${nope}: ENOENT (no such file or directory) (at ${nope}). Fix: ${hint}\n`;
  const config = await runCaptured(main, ['check-config', nope]);
  assert.equal(config.err, expected('check-config', 'config file', 'check the path and the file permissions'));
  const agent = await runCaptured(main, ['import-agent-config', nope]);
  assert.equal(
    agent.err,
    expected('import-agent-config', 'Kinesis Agent configuration', 'pass the Kinesis Agent configuration, usually /etc/aws-kinesis/agent.json'),
  );
  const rules = await runCaptured(main, ['rules', 'check', nope]);
  assert.match(
    rules.err,
    new RegExp(`GH_CONFIG_READ: cannot read the rule set file ${nope}: ENOENT \\(no such file or directory\\) .*Fix: check the path and the file permissions`),
  );
});
