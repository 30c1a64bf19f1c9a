// docs/syslog-source.md runs as written: its "Try it" configuration started as a real gateway
// process (the port moved to a free one) with its logger lines run by sh and the payload shown
// compared with the one committed; its rsyslog action run by rsyslogd (Debian `rsyslog`); its
// busybox lines run by busybox (Debian `busybox`) in a mount namespace of their own, so the
// /dev/log busybox syslogd makes is not the host's.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { restartablePort } from '../helpers/ports.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const PAGE = join(repoRoot, 'docs', 'syslog-source.md');

/** The first fenced block of `lang` after `heading`. */
function blockAfter(text: string, heading: string, lang: string): string {
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `docs/syslog-source.md has '${heading}'`);
  const open = text.indexOf(`\`\`\`${lang}\n`, from);
  const close = text.indexOf('\n```', open + 1);
  return text.slice(open + lang.length + 4, close + 1);
}

/** A gateway with the page's "Try it" configuration on a free port (udp and tcp). */
async function tryItGateway(t: TestContext): Promise<{ gw: GatewayProcess; port: number; page: string }> {
  const page = await readFile(PAGE, 'utf8');
  const yaml = blockAfter(page, '## Try it', 'yaml');
  assert.equal(yaml.match(/port: 5514/g)?.length, 2);
  const port = await restartablePort(t);
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replaceAll('port: 5514', `port: ${port}`)}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  return { gw, port, page };
}

async function records(gw: GatewayProcess): Promise<Array<{ topic: string; payload: Record<string, unknown> }>> {
  const res = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records?from=1&limit=100`)).json()) as {
    records: Array<{ topic: string; payload: string }>;
  };
  return res.records.map((r) => ({ topic: r.topic, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

test("docs/syslog-source.md 'Try it': the logger lines are committed, the first with the payload the page shows", {
  skip: needBinary('logger', 'bsdutils'),
}, async (t) => {
  const { gw, port, page } = await tryItGateway(t);
  const sh = blockAfter(page, '## Try it', 'sh');
  for (const line of sh.split('\n').filter((l) => l.trim() !== '')) execFileSync('sh', ['-ec', line.replaceAll('--port 5514', `--port ${port}`)]);
  const got = await waitUntil(async () => {
    const r = await records(gw);
    return r.length === 3 ? r : undefined;
  }, 'the three committed');
  assert.equal(got[0]!.topic, `syslog/${hostname()}/ups`);
  const shown = JSON.parse(blockAfter(page, 'with this payload', 'json')) as Record<string, unknown>;
  const first = got[0]!.payload;
  assert.deepEqual(Object.keys(first), Object.keys(shown), 'the fields the page shows, in its order');
  for (const k of ['format', 'facility', 'facilityName', 'severity', 'severityName', 'appName', 'procId', 'msgId', 'message', 'sender', 'transport'])
    assert.deepEqual(first[k], shown[k], k);
  assert.deepEqual((first.structuredData as Record<string, unknown>)['ups@32473'], (shown.structuredData as Record<string, unknown>)['ups@32473']);
  assert.deepEqual(
    got.map((r) => [r.payload.format, r.payload.transport, r.payload.message]),
    [
      ['rfc5424', 'udp', 'on battery'],
      ['rfc5424', 'tcp', 'on mains'],
      ['rfc3164', 'tcp', 'port 7 up'],
    ],
  );
});

test("docs/syslog-source.md 'Forwarding from rsyslog': rsyslogd runs the page's action and the message arrives", {
  skip: needBinary('rsyslogd', 'rsyslog'),
}, async (t) => {
  const { gw, port, page } = await tryItGateway(t);
  const action = blockAfter(page, '## Forwarding from rsyslog', '');
  assert.match(action, /target="192\.168\.10\.5" port="5514"/);
  const dir = await tempDir(t, 'gatehouse-rsyslog-doc-');
  const inPort = await restartablePort(t);
  await mkdir(join(dir, 'work'));
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(
    conf,
    `global(workDirectory="${join(dir, 'work')}")\nmodule(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="${inPort}")\n${action.replace('target="192.168.10.5" port="5514"', `target="127.0.0.1" port="${port}"`)}`,
  );
  const rsyslog = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: 'ignore' });
  t.after(() => {
    if (rsyslog.exitCode === null) rsyslog.kill('SIGTERM');
  });
  await waitUntil(() => existsSync(join(dir, 'pid')), 'rsyslogd started', 10_000);
  execFileSync('logger', ['--tcp', '--server', '127.0.0.1', '--port', String(inPort), '-t', 'doc', 'through rsyslog']);
  const got = await waitUntil(async () => (await records(gw)).find((r) => r.payload.message === 'through rsyslog'), 'forwarded', 15_000, 100);
  assert.equal(got.payload.format, 'rfc5424');
  assert.equal(got.payload.appName, 'doc');
  assert.equal(got.payload.transport, 'tcp');
});

const omrelpSkip =
  needBinary('rsyslogd', 'rsyslog') ??
  (existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so') || existsSync('/usr/lib/aarch64-linux-gnu/rsyslog/omrelp.so')
    ? undefined
    : "needs rsyslog's RELP output: install the Debian package 'rsyslog-relp'");

test("docs/syslog-source.md 'Forwarding from rsyslog over RELP': the page's source and omrelp action, the message committed and answered", {
  skip: omrelpSkip,
}, async (t) => {
  const heading = '## Forwarding from rsyslog over RELP';
  const page = await readFile(PAGE, 'utf8');
  const yaml = blockAfter(page, heading, 'yaml');
  const action = blockAfter(page, 'and on the sender (Debian package', '');
  assert.match(yaml, /relp: \{ host: 0\.0\.0\.0, port: 2514 \}/);
  assert.match(action, /target="192\.168\.10\.5" port="2514"/);
  const port = await restartablePort(t);
  const dir = await tempDir(t, 'gatehouse-relp-doc-');
  // loopback for the test: the page's host and allow are for the cabinet's network
  const local = yaml.replace('host: 0.0.0.0, port: 2514', `host: 127.0.0.1, port: ${port}`).replace('allow: [192.168.10.0/24]', 'allow: [127.0.0.1]');
  const gw = await startGatewayProcess(await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${local}`));
  t.after(() => gw.kill9());
  const inPort = await restartablePort(t);
  await mkdir(join(dir, 'work'));
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(
    conf,
    `global(workDirectory="${join(dir, 'work')}")\nmodule(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="${inPort}")\n${action.replace('target="192.168.10.5" port="2514"', `target="127.0.0.1" port="${port}"`)}`,
  );
  const rsyslog = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: 'ignore' });
  t.after(() => {
    if (rsyslog.exitCode === null) rsyslog.kill('SIGTERM');
  });
  await waitUntil(() => existsSync(join(dir, 'pid')), 'rsyslogd started', 10_000);
  execFileSync('logger', ['--tcp', '--server', '127.0.0.1', '--port', String(inPort), '-t', 'doc', 'through relp']);
  const got = await waitUntil(async () => (await records(gw)).find((r) => r.payload.message === 'through relp'), 'forwarded', 15_000, 100);
  assert.equal(got.payload.format, 'rfc5424');
  assert.equal(got.payload.transport, 'relp');
});

const busyboxSkip =
  needBinary('busybox', 'busybox') ??
  needBinary('unshare', 'util-linux') ??
  (process.getuid?.() === 0 ? undefined : 'needs root: busybox syslogd is run with a private /dev/log in a mount namespace (unshare -m)');

test("docs/syslog-source.md 'Forwarding from busybox': syslogd -R and logger as the page shows, the topic named by the sender's address", {
  skip: busyboxSkip,
}, async (t) => {
  const { gw, port, page } = await tryItGateway(t);
  const sh = blockAfter(page, '## Forwarding from busybox', 'sh');
  const [syslogd, logger] = sh.split('\n').filter((l) => l.trim() !== '') as [string, string];
  assert.equal(syslogd, 'syslogd -R 192.168.10.5:5514');
  const dir = await tempDir(t, 'gatehouse-busybox-');
  // a /dev of its own (holding only null): busybox syslogd makes /dev/log there, not on the host
  const script = [
    `mkdir ${dir}/dev && touch ${dir}/dev/null && mount --bind /dev/null ${dir}/dev/null && mount --bind ${dir}/dev /dev`,
    `busybox ${syslogd.replace('192.168.10.5:5514', `127.0.0.1:${port}`)} -n & pid=$!`,
    'for i in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done',
    `busybox ${logger}`,
    'wait $pid',
  ].join('\n');
  // its own process group: syslogd is stopped with the shell once the message has arrived
  const ns = spawn('unshare', ['-m', 'sh', '-ec', script], { stdio: 'ignore', detached: true });
  const stop = () => {
    if (ns.exitCode === null && ns.pid !== undefined) process.kill(-ns.pid, 'SIGTERM');
  };
  t.after(stop);
  const got = await waitUntil(async () => (await records(gw)).find((r) => r.payload.message === 'started'), 'forwarded', 10_000, 100);
  assert.equal(got.topic, 'syslog/127.0.0.1/pump');
  assert.deepEqual([got.payload.format, got.payload.hostname, got.payload.appName, got.payload.transport], ['rfc3164', null, 'pump', 'udp']);
  stop();
});
