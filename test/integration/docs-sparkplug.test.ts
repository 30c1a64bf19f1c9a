// docs/sparkplug.md's host example runs as written: its configuration in a real gateway process
// (the ports moved to free ones), its protoc and mosquitto_pub lines run by sh (Debian
// `protobuf-compiler` and `mosquitto-clients`) with the tests' wire-compatible sparkplug_b.proto
// in place of the one the page fetches, `gatehouse sources` run against it; the record the page
// shows is compared with the one exported, and the NDEATH's record with the text. Its writes
// example the same way: the edge node's mosquitto_sub, the command sent with mosquitto_rr, the
// reply and protoc's reading of the DCMD compared with the page's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { SPARKPLUG_PROTO, skipProtoc } from '../helpers/sparkplug.js';

const PAGE = join(repoRoot, 'docs', 'sparkplug.md');
const HEADING = '### Worked example: an edge node with a device';

/** The fenced blocks of `lang` from `heading` to the next heading of its level. */
function blocks(text: string, heading: string, lang: string): string[] {
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `docs/sparkplug.md has '${heading}'`);
  const end = text.indexOf('\n### ', from + heading.length);
  const section = text.slice(from, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
}

/** The commands of a sh block: continuation lines joined, comments and the gateway's start left out. */
function commands(sh: string): string[] {
  return sh
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#') && !l.startsWith('npx gatehouse start'));
}

async function exported(dir: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.startsWith(prefix) && e.name.endsWith('.ndjson')) out.push(...(await readFile(join(d, e.name), 'utf8')).split('\n').filter(Boolean));
    }
  };
  await walk(join(dir, 'gatehouse-data', 'export'));
  return out;
}

const skip = skipProtoc || needBinary('mosquitto_pub', 'mosquitto-clients');

test("docs/sparkplug.md's host example: births, alias-only DDATA named, the NDEATH routed, as the page shows", { skip, timeout: 90_000 }, async (t) => {
  const page = await readFile(PAGE, 'utf8');
  const dir = await tempDir(t, 'gatehouse-spb-doc-');
  await writeFile(join(dir, 'sparkplug_b.proto'), SPARKPLUG_PROTO);
  const [yaml] = blocks(page, HEADING, 'yaml');
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'gatehouse-data'))}\n${yaml}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  await waitUntil(
    async () => {
      const res = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as { sources: Array<{ name: string; state: string }> };
      return res.sources.find((s) => s.name === 'plant')?.state === 'connected';
    },
    'the sparkplug source connected to the embedded broker',
    15_000,
  );
  const [first, second] = blocks(page, HEADING, 'sh') as [string, string];
  const { cmd, args } = cliCommand();
  const run = (line: string): string =>
    execFileSync(
      'sh',
      [
        '-ec',
        line
          .replace(/^mosquitto_pub /, `mosquitto_pub -p ${gw.mqttPort} `)
          .replace(/^npx gatehouse sources$/, `${[cmd, ...args].map((a) => JSON.stringify(a)).join(' ')} sources --admin ${gw.adminUrl}`),
      ],
      { cwd: dir, timeout: 30_000 },
    ).toString();
  let sources = '';
  for (const line of commands(first)) {
    if (line.startsWith('cat ')) continue;
    if (line.startsWith('npx gatehouse sources')) {
      // The three messages taken (QoS 0: mosquitto_pub returns once sent).
      await waitUntil(async () => (await exported(dir, 'sparkplug-')).length >= 3 || undefined, 'three records exported', 15_000, 100);
      sources = run(line);
    } else run(line);
  }
  assert.match(
    sources,
    new RegExp(`plant \\(sparkplug\\) connected: mqtt://127\\.0\\.0\\.1:${gw.mqttPort}; 1/1 nodes online; 1/1 devices online; 2 births, 0 deaths; `),
  );
  const lines = (await exported(dir, 'sparkplug-')).map((l) => JSON.parse(l) as { topic: string; attrs?: unknown; payload: Record<string, unknown> });
  const shown = JSON.parse(blocks(page, HEADING, 'json')[0]!) as { topic: string; attrs?: unknown; payload: unknown };
  const ddata = lines.find((l) => l.topic === shown.topic);
  assert.ok(ddata, `a record on ${shown.topic}`);
  assert.deepEqual(ddata.payload, shown.payload, 'the record the page shows');
  assert.deepEqual(ddata.attrs, shown.attrs, "the record's attrs as the page shows them");
  // The rule that picks one metric by name, run by `gatehouse rules eval` on that record's payload, prints what the page says.
  const [byName] = blocks(page, '### The messages the rules get', 'sql');
  assert.ok(byName, 'the page has the by-name rule');
  const picked = execFileSync(cmd, [...args, 'rules', 'eval', '--sql', byName.trim(), '--topic', shown.topic, '--payload', JSON.stringify(ddata.payload)], {
    timeout: 30_000,
  }).toString();
  assert.equal(picked.trim(), '{"node":"edge7","device":"press3","pressure":3.25}');
  assert.match(page, /`\{"node":"edge7","device":"press3","pressure":3\.25\}`/);
  for (const line of commands(second)) if (!line.startsWith('cat ')) run(line);
  const offline = await waitUntil(async () => (await exported(dir, 'offline-'))[0], 'the offline record exported', 15_000, 100);
  const p = (JSON.parse(offline) as { payload: Record<string, unknown> }).payload;
  assert.deepEqual([p.node, p.devicesOffline, typeof p.at], ['edge7', ['press3'], 'number']);
  assert.match(page, /`\{"node":"edge7","devicesOffline":\["press3"\],"at":\.\.\.\}`/);
  const after = run('npx gatehouse sources');
  assert.match(after, /0\/1 nodes online; 0\/1 devices online; 2 births, 1 death/);
  assert.match(page, /`0\/1 nodes online; 0\/1 devices online; 2 births, 1 death`/);
});

const WRITES = '#### Worked example: a DCMD to a device';

test("docs/sparkplug.md's writes example: the births, the edge node's mosquitto_sub, mosquitto_rr's reply and protoc's reading of the DCMD, as the page shows", {
  skip: skip || needBinary('mosquitto_sub', 'mosquitto-clients') || needBinary('mosquitto_rr', 'mosquitto-clients'),
  timeout: 90_000,
}, async (t) => {
  const page = await readFile(PAGE, 'utf8');
  const dir = await tempDir(t, 'gatehouse-spb-doc-writes-');
  await writeFile(join(dir, 'sparkplug_b.proto'), SPARKPLUG_PROTO);
  const [yaml] = blocks(page, WRITES, 'yaml');
  const gw = await startGatewayProcess(await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'gatehouse-data'))}\n${yaml}`));
  t.after(() => gw.kill9());
  const source = async (): Promise<{ state: string; details?: Record<string, unknown> } | undefined> => {
    const res = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as {
      sources: Array<{ name: string; state: string; details?: Record<string, unknown> }>;
    };
    return res.sources.find((s) => s.name === 'plant');
  };
  await waitUntil(async () => (await source())?.state === 'connected', 'the sparkplug source connected', 15_000);
  const [sh] = blocks(page, WRITES, 'sh') as [string];
  const local = (line: string): string => line.replace(/^mosquitto_(pub|sub|rr) /, (m) => `${m}-p ${gw.mqttPort} `);
  const run = (line: string): string => execFileSync('sh', ['-ec', local(line)], { cwd: dir, timeout: 30_000 }).toString();
  const lines = commands(sh);
  const sub = lines.find((l) => l.startsWith('mosquitto_sub '));
  const rr = lines.find((l) => l.startsWith('mosquitto_rr '));
  assert.ok(sub && rr, 'the page has the edge node mosquitto_sub and the mosquitto_rr command');
  let reply = '';
  for (const line of lines) {
    if (line === sub) {
      // The third terminal: the edge node waits for its command (the births were taken first).
      await waitUntil(async () => ((await source())?.details?.devices as { online?: number } | undefined)?.online === 1, 'the device born', 15_000, 100);
      const edge = spawn('sh', ['-ec', local(line)], { cwd: dir, stdio: 'ignore' });
      t.after(() => edge.kill());
      const exited = once(edge, 'exit');
      await waitUntil(
        async () =>
          ((await (await fetch(`${gw.adminUrl}/api/clients`)).json()) as { clients: Array<{ id: string }> }).clients.some((c) => c.id === 'edge7-cmd'),
        "the edge node's mosquitto_sub connected",
        15_000,
        50,
      );
      // Its SUBSCRIBE follows its CONNECT: should the command beat it, the edge node's mosquitto_sub is still waiting, and the command is sent again.
      for (let attempt = 0; attempt < 5 && reply === ''; attempt++) {
        const r = run(rr);
        const done = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000))]);
        if (done) reply = r;
      }
      assert.notEqual(reply, '', 'the edge node received the DCMD');
    } else if (line !== rr) {
      if (line.startsWith('protoc --decode')) continue;
      run(line);
    }
  }
  const got = JSON.parse(reply.trim()) as Record<string, unknown>;
  const shown = JSON.parse(blocks(page, WRITES, 'json')[0]!) as Record<string, unknown>;
  assert.equal(typeof got.timestamp, 'number');
  assert.deepEqual(got, { ...shown, timestamp: got.timestamp }, 'the reply as the page shows it (its timestamp aside)');
  const decoded = run(lines.find((l) => l.startsWith('protoc --decode'))!);
  const text = blocks(page, WRITES, 'text')[0]!;
  assert.equal(decoded, text.replaceAll(String(shown.timestamp), String(got.timestamp)), "protoc's reading of the DCMD as the page shows it");
});
