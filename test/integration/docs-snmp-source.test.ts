// docs/snmp-source.md runs as written: its "Try it" snmpd.conf and snmpd command run a real agent
// (Debian `snmpd`), its configuration a real gateway process (the ports moved to free ones), and
// its snmptrap and snmpinform lines (Debian `snmp`) are run by sh; the payloads the page shows are
// compared with the ones committed. Its "Your MIB files" configuration is run the same way.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { restartablePort } from '../helpers/ports.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { snmpSkip } from '../helpers/snmp-rig.js';

const PAGE = join(repoRoot, 'docs', 'snmp-source.md');

/** The first fenced block of `lang` after `heading` (after `after`, when given). */
function blockAfter(text: string, heading: string, lang: string, after = ''): string {
  const from = text.indexOf(after, text.indexOf(heading));
  assert.ok(text.indexOf(heading) >= 0 && from >= 0, `docs/snmp-source.md has '${heading}' / '${after}'`);
  const open = text.indexOf(`\`\`\`${lang}\n`, from);
  const close = text.indexOf('\n```', open + 1);
  return text.slice(open + lang.length + 4, close + 1);
}

/** The page's "Try it" agent: its snmpd.conf and snmpd line, on `port`; the tools' environment (no MIB files). */
async function tryItAgent(t: TestContext, page: string, dir: string, port: number): Promise<NodeJS.ProcessEnv> {
  await writeFile(join(dir, 'snmpd.conf'), blockAfter(page, '## Try it', ''));
  const [snmpdLine] = blockAfter(page, '## Try it', 'sh')
    .split('\n')
    .filter((l) => l.trim() !== '') as [string];
  assert.match(snmpdLine, /udp:127\.0\.0\.1:1161$/);
  const env = { ...process.env, MIBS: '', MIBDIRS: '/nonexistent' };
  const agent = spawn('sh', ['-c', `exec env ${snmpdLine.replace('/tmp/snmpd', join(dir, 'persist')).replace(':1161', `:${port}`)}`], {
    cwd: dir,
    stdio: 'ignore',
    env,
  });
  t.after(async () => {
    if (agent.exitCode === null) {
      agent.kill('SIGTERM');
      await once(agent, 'exit');
    }
  });
  return env;
}

async function records(gw: GatewayProcess): Promise<Array<{ topic: string; payload: Record<string, unknown> }>> {
  const res = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records?from=1&limit=100`)).json()) as {
    records: Array<{ topic: string; payload: string }>;
  };
  return res.records.map((r) => ({ topic: r.topic, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

test("docs/snmp-source.md 'Try it': snmpd polled, the trap and the inform committed, with the payloads the page shows", {
  skip: snmpSkip,
  timeout: 90_000,
}, async (t) => {
  const page = await readFile(PAGE, 'utf8');
  const dir = await tempDir(t, 'gatehouse-snmp-doc-');
  const agentPort = await restartablePort(t);
  const trapPort = await restartablePort(t);
  const env = await tryItAgent(t, page, dir, agentPort);
  const yaml = blockAfter(page, '## Try it', 'yaml');
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('port: 1161', `port: ${agentPort}`).replace('port: 1162', `port: ${trapPort}`).replace('intervalMs: 10000', 'intervalMs: 500')}`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { snmpTraps?: unknown } | undefined;
  assert.deepEqual(started?.snmpTraps, [{ name: 'cabinet', udp: `127.0.0.1:${trapPort}` }], 'the start line names the trap port');
  const poll = await waitUntil(async () => (await records(gw)).find((r) => r.topic === 'snmp/agent/system'), 'a poll committed', 30_000, 100).catch(
    async (e) => {
      t.diagnostic(JSON.stringify(gw.logs.slice(-8)));
      t.diagnostic(JSON.stringify((await records(gw)).slice(0, 2)));
      throw e;
    },
  );
  const shownPoll = JSON.parse(blockAfter(page, '## Try it', 'json')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(poll.payload), Object.keys(shownPoll), 'the fields the page shows, in its order');
  const fields = poll.payload.fields as Record<string, unknown>;
  assert.deepEqual([fields.name, fields.location, typeof fields.uptime], ['gw-7', 'cabinet-3', 'number']);
  const lo = (poll.payload.rows as Record<string, Record<string, Record<string, unknown>>>).interfaces!['1']!;
  assert.deepEqual([lo.descr, lo.type], ['lo', 24]);
  const lines = blockAfter(page, '## Try it', 'sh', 'In a second terminal')
    .split('\n')
    .filter((l) => l.trim() !== '');
  assert.equal(lines.length, 2);
  for (const line of lines) execFileSync('sh', ['-ec', line.replace('127.0.0.1:1162', `127.0.0.1:${trapPort}`)], { env, timeout: 30_000 });
  const traps = await waitUntil(
    async () => {
      const r = (await records(gw)).filter((x) => x.topic.startsWith('snmp/traps/'));
      return r.length === 2 ? r : undefined;
    },
    'the trap and the inform committed',
    15_000,
    100,
  );
  assert.deepEqual(
    traps.map((x) => x.topic),
    ['snmp/traps/127.0.0.1/linkDown', 'snmp/traps/127.0.0.1/upsTrapOnBattery'],
  );
  const shownTrap = JSON.parse(blockAfter(page, '## Try it', 'json', 'snmp/traps/127.0.0.1/linkDown')) as Record<string, unknown>;
  const trap = traps[0]!.payload;
  assert.deepEqual(Object.keys(trap), Object.keys(shownTrap));
  for (const k of ['agent', 'from', 'version', 'inform', 'trapOid', 'trapName', 'varbinds']) assert.deepEqual(trap[k], shownTrap[k], k);
  assert.equal(traps[1]!.payload.inform, true);
});

test("docs/snmp-source.md 'Your MIB files': the real CLI parses Debian's MIBs and polls snmpd by their names, as the page shows", {
  skip: snmpSkip ?? (existsSync('/usr/share/snmp/mibs/UCD-SNMP-MIB.txt') ? false : "needs Debian's net-snmp MIB files: apt-get install libsnmp-base"),
  timeout: 90_000,
}, async (t) => {
  const page = await readFile(PAGE, 'utf8');
  const dir = await tempDir(t, 'gatehouse-snmp-doc-');
  const agentPort = await restartablePort(t);
  await tryItAgent(t, page, dir, agentPort);
  const yaml = blockAfter(page, '### Your MIB files', 'yaml');
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('port: 1161', `port: ${agentPort}`).replace('intervalMs: 10000', 'intervalMs: 500')}`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const poll = await waitUntil(async () => (await records(gw)).find((r) => r.topic === 'snmp/agent/host'), 'a poll committed', 30_000, 100);
  const shown = JSON.parse(blockAfter(page, '### Your MIB files', 'json')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(poll.payload), Object.keys(shown));
  const fields = poll.payload.fields as Record<string, unknown>;
  assert.deepEqual([typeof fields.memory, typeof fields.swap], ['number', 'number']);
  const load = (poll.payload.rows as Record<string, Record<string, Record<string, unknown>>>).load!;
  assert.deepEqual(
    Object.values(load).map((r) => r.name),
    ['Load-1', 'Load-5', 'Load-15'],
  );
  assert.ok(gw.logs.some((l) => l.msg === 'snmp source loaded its MIB files'));
  assert.ok(existsSync(join(dir, 'data', 'snmp', 'cabinet.mibs.json')), 'the names cached in the data folder');
  // 'What does the agent have?': the two walks as written, against the same agent
  const walks = blockAfter(page, '## What does the agent have', 'sh')
    .split('\n')
    .filter((l) => l.trim() !== '');
  assert.equal(walks.length, 2);
  const outs = walks.map((line) =>
    execFileSync('sh', ['-ec', line.replace(/^gatehouse /, `node ${join(repoRoot, 'bin', 'gatehouse.js')} `).replace('--port 1161', `--port ${agentPort}`)], {
      encoding: 'utf8',
      timeout: 30_000,
    }),
  );
  assert.match(outs[0]!, /sysName\.0 {2}OctetString = "gw-7"/);
  // the output block after the sh block
  const shBlockEnd = page.indexOf('\n```\n', page.indexOf('```sh', page.indexOf('## What does the agent have'))) + 5;
  const shownWalk = page.slice(page.indexOf('```\n', shBlockEnd) + 4).split('\n')[0]!;
  assert.equal(outs[1]!.split('\n')[0]!.replace(String(agentPort), '1161'), shownWalk, 'the first line the page shows');
  assert.match(outs[1]!, /\n {2}1\.3\.6\.1\.4\.1\.2021\.10\.1\.2\.1 +laNames\.1 {2}OctetString = "Load-1"\n/);
});
