// `gatehouse diagnose` as a site runs it (real CLI processes): against a running gateway (its
// status, streams, exporters and metrics through the admin API, the token taken from the config),
// against the same gateway stopped (the offline parts, the admin API listed as not collected), and
// against an admin API that accepts and never answers (a mock: no real gateway hangs on demand),
// which must not hold it. The configuration carries a known value in secret-bearing options of each
// kind (a password hash, the admin token, URL credentials, AWS keys, a bearer token, a header, a NATS
// password) and the log file repeats some: none may appear in what diagnose writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../gateway/cli/main.js';
import { diagnoseTarget } from '../../gateway/cli/diagnose.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { cliCommand, startGatewayProcess } from '../helpers/gateway-process.js';
import { freePort, hungServer, tempDir, waitUntil } from '../helpers/index.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/** The real CLI in a child process, killed if it runs past `killMs` (a hang fails the test, it does not hold it). */
function diagnose(args: string[], killMs = 60_000, cwd?: string, as?: { uid: number; gid: number }): Promise<Run> {
  const { cmd, args: base } = cliCommand();
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...base, 'diagnose', ...args],
      {
        timeout: killMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NODE_OPTIONS: '', GATEHOUSE_ADMIN_TOKEN: '' },
        ...(cwd ? { cwd } : {}),
        ...(as ?? {}),
      },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: String(stdout), err: String(stderr), ms: Date.now() - t0 });
      },
    );
  });
}

/** Every planted secret ends in this; the password hash is checked on its own. */
const MARK = '7f3a';

async function secretConfig(dir: string, mqttPort: number): Promise<{ file: string; hash: string }> {
  const hash = (await runCaptured(main, ['passwd', `SECRET-pw-${MARK}`])).out.trim();
  assert.match(hash, /^scrypt\$/);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}
admin: { token: "SECRET-admin-token-${MARK}-0123456789" }
broker:
  users: [{ username: truck7, password: '${hash}' }]
network: { proxy: { url: "http://proxyuser:SECRET-proxy-url-${MARK}@127.0.0.1:9" } }
sources:
  - { type: mqtt, name: cloud, url: "mqtt://u:SECRET-mqtt-url-${MARK}@127.0.0.1:${mqttPort}", username: u, password: "SECRET-mqtt-password-${MARK}", clientId: gw-src, topics: [{ filter: "cmd/#" }] }
exporters:
  - name: k
    stream: archive
    destination: { type: kinesis, streamName: fleet, region: eu-west-1, endpoint: "http://127.0.0.1:9", accessKeyId: "AKIASECRETKEY${MARK}", secretAccessKey: "SECRET-aws-secret-${MARK}", sessionToken: "SECRET-aws-session-${MARK}" }
  - name: w
    stream: archive
    destination: { type: webhook, url: "http://127.0.0.1:9/in?token=SECRET-query-token-${MARK}", headers: { X-Api-Key: "SECRET-header-${MARK}" }, auth: { type: bearer, token: "SECRET-bearer-${MARK}" } }
  - name: n
    stream: archive
    destination: { type: nats, servers: ["nats://127.0.0.1:9"], subject: x, user: gw, password: "SECRET-nats-password-${MARK}" }
`,
  );
  return { file, hash };
}

function assertNoSecret(text: string, hash: string): void {
  const leaks = [...text.matchAll(new RegExp(`.{0,40}${MARK}.{0,20}`, 'g'))].map((m) => m[0]);
  assert.deepEqual(leaks, [], 'planted secrets in the diagnose output');
  assert.equal(text.includes(hash.split('$').at(-1)!), false, 'the password hash');
}

test('diagnose against a running gateway, then the same gateway stopped: every section, no secret', async (t) => {
  const dir = await tempDir(t, 'gatehouse-diagnose-');
  // the mqtt source's broker: nothing listens there (its connection fails and is retried: a log line)
  const { file, hash } = await secretConfig(dir, await freePort(t));
  const gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  // a gateway whose stdout goes to a file, with secrets in its lines (as a debug line might hold them)
  const logFile = join(dir, 'gatehouse.log');
  await writeFile(
    logFile,
    `${JSON.stringify({ level: 30, msg: 'gatehouse started' })}\n${JSON.stringify({ level: 20, msg: 'request', headers: { authorization: 'Bearer SECRET-bearer-' + MARK } })}\nconnecting to http://proxyuser:SECRET-proxy-url-${MARK}@127.0.0.1:9 with SECRET-aws-secret-${MARK}\n`,
  );
  const outDir = join(dir, 'out');
  await import('node:fs/promises').then((fs) => fs.mkdir(outDir));
  const running = await diagnose(['--config', file, '--admin', gw.adminUrl, '--out', outDir, '--log-file', logFile, '--timeout', '10']);
  assert.equal(running.code, 0, running.err);
  const [name] = await readdir(outDir);
  assert.match(name!, /^gatehouse-diag-[A-Za-z0-9._-]+-\d{8}T\d{6}Z\.txt$/);
  assert.match(running.err, new RegExp(`wrote ${join(outDir, name!).replace(/[.]/g, '\\.')}`));
  const path = join(outDir, name!);
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'owner-only');
  const text = await readFile(path, 'utf8');
  for (const section of [
    'system',
    'board health',
    'disk (data dir)',
    'configuration',
    'rule set',
    'certificates',
    'environment',
    'status (gatehouse status)',
    'streams and exporters',
    'dead letters',
    'metrics (GET /metrics)',
    'log (last 200 lines)',
    'not collected',
  ])
    assert.match(text, new RegExp(`^## ${section.replace(/[()]/g, '\\$&')}$`, 'm'), section);
  assert.match(text, /^node: v\d+/m);
  assert.match(text, /^kernel: /m);
  assert.match(text, /^board: /m);
  assert.match(text, /^ {2}exporter k -> kinesis /m);
  assert.match(text, /^gatehouse_info\{/m);
  assert.match(text, /^valid/m);
  // redacted where it was, what helps kept
  assert.match(text, /^ {6}secretAccessKey: <redacted>$/m);
  assert.match(text, /username: truck7/);
  assert.match(text, /redacted: .*admin\.token/);
  assert.match(text, /http:\/\/proxyuser:redacted@127\.0\.0\.1:9/);
  assert.match(text, /"authorization":"Bearer <redacted>"/);
  assertNoSecret(text, hash);

  assert.equal(await gw.stop(), 0);
  const stopped = await diagnose(['--config', file, '--admin', gw.adminUrl, '--log-file', logFile, '--timeout', '5']);
  assert.equal(stopped.code, 0, stopped.err);
  assert.match(stopped.out, /^## system$/m);
  assert.match(stopped.out, /^ {2}store: /m, 'the data dir listed offline');
  assert.match(
    stopped.out,
    /^## not collected\n\n- the running gateway \(admin API http:\/\/127\.0\.0\.1:\d+\): status, streams, exporters, dead letters, metrics: cannot reach .*ECONNREFUSED/m,
  );
  assert.doesNotMatch(stopped.out, /^## status/m);
  assertNoSecret(stopped.out, hash);
});

test('an admin API that accepts and never answers does not hold diagnose', async (t) => {
  const hung = await hungServer(t);
  const dir = await tempDir(t, 'gatehouse-diagnose-hung-');
  const run = await diagnose(
    ['--admin', `http://127.0.0.1:${hung.port}`, '--data-dir', join(dir, 'data'), '--timeout', '1', '--log-file', join(dir, 'none.log')],
    30_000,
  );
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /- the running gateway \(admin API http:\/\/127\.0\.0\.1:\d+\): .*connected, but no answer within 1 s/);
  assert.match(run.out, /- log \(last 200 lines\): ENOENT/);
  assert.ok(run.ms < 20_000, `diagnose took ${run.ms} ms`);
  // and it closed its connection to the hung server when it gave up
  await waitUntil(() => hung.open() === 0, 'the hung connection closed');
  assert.ok(hung.taken() >= 1);
});

test("with neither --config nor --data-dir, the systemd unit's when its config exists", () => {
  assert.deepEqual(
    diagnoseTarget(undefined, undefined, (p) => p === '/etc/gatehouse/gatehouse.yaml'),
    { config: '/etc/gatehouse/gatehouse.yaml', dataDir: '/var/lib/gatehouse', service: true },
  );
  assert.deepEqual(
    diagnoseTarget(undefined, undefined, () => false),
    { service: false },
  );
  assert.deepEqual(
    diagnoseTarget('g.yaml', undefined, () => true),
    { config: 'g.yaml', service: false },
  );
  assert.deepEqual(
    diagnoseTarget(undefined, '/data', () => true),
    { dataDir: '/data', service: false },
  );
});

test('diagnose --help and a bad option', async () => {
  const help = await runCaptured(main, ['diagnose', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^usage: gatehouse diagnose /);
  const bad = await runCaptured(main, ['diagnose', '--log-lines', 'lots']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--log-lines 'lots' is not a whole number/);
});

test('a config without dataDir, diagnose run from another folder: the data dir section says why it looks elsewhere', async (t) => {
  const confDir = await tempDir(t, 'gatehouse-diag-conf-');
  const elsewhere = await tempDir(t, 'gatehouse-diag-cwd-');
  const file = join(confDir, 'gatehouse.yaml');
  await writeFile(file, `admin: { port: ${await freePort()} }\n`);
  const r = await diagnose(['--config', file, '--timeout', '2'], 60_000, elsewhere);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`data dir: ${join(elsewhere, 'gatehouse-data')}`));
  assert.match(r.out, /the configuration names no dataDir: .* pass --data-dir DIR/);
  // With dataDir in the file, no such note.
  await writeFile(file, `dataDir: ./data\nadmin: { port: ${await freePort()} }\n`);
  const named = await diagnose(['--config', file, '--timeout', '2'], 60_000, elsewhere);
  assert.doesNotMatch(named.out, /names no dataDir/);
});

test('a data dir this user may not read: listed as not collected with what to do', async (t) => {
  const dir = await tempDir(t, 'gatehouse-diag-eacces-');
  const data = join(dir, 'data');
  await mkdir(join(data, 'store'), { recursive: true });
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, `dataDir: ./data\nadmin: { port: ${await freePort()} }\n`);
  // as root (CI), run diagnose as nobody; as anyone else, take the read right away
  const root = process.getuid?.() === 0;
  const nobody = root
    ? { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) }
    : undefined;
  await chmod(dir, 0o755); // the config readable, only the data dir not
  await chmod(data, root ? 0o700 : 0o000);
  const r = await diagnose(['--config', file, '--timeout', '2'], 60_000, tmpdir(), nobody);
  await chmod(data, 0o700); // back before the temp dir's removal (after() hooks run in their own order)
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /- disk \(data dir\): EACCES[^\n]*run diagnose with sudo, or as the gateway's user/);
});
