// docs/destinations.md's "Try it without AWS: kinesalite" runs as written: the page's kinesalite
// command (npm's kinesalite, a dev dependency) and docs/examples/kinesis-local.mjs run by sh, the
// page's kinesis-try.yaml started as a real gateway process, its mosquitto_pub line run by sh (Debian
// `mosquitto-clients`); the ports moved to free ones. The record read back is the one the page shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const HEADING = '### Try it without AWS: kinesalite';

/** The fenced blocks of `lang` from the heading to the next heading. */
function blocks(text: string, lang: string): string[] {
  const from = text.indexOf(HEADING);
  assert.ok(from >= 0, `docs/destinations.md has '${HEADING}'`);
  const end = text.indexOf('\n## ', from + HEADING.length);
  const section = text.slice(from, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``, 'g'))].map((m) => m[1]!);
}

/** A line's command, its trailing comment and `&` taken off. */
const command = (line: string): string =>
  line
    .replace(/\s+#.*$/, '')
    .replace(/\s*&$/, '')
    .trim();

test("docs/destinations.md 'Try it without AWS': the reading published is the record read back from kinesalite", {
  skip: needBinary('mosquitto_pub', 'mosquitto-clients'),
  timeout: 90_000,
}, async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'destinations.md'), 'utf8');
  const [setup, publish] = blocks(page, 'sh') as [string, string];
  const [yaml] = blocks(page, 'yaml') as [string];
  const [startLine, createLine] = setup.split('\n').map(command) as [string, string];
  assert.equal(startLine, 'npx kinesalite --port 4567');
  const port = await freePort(t);
  const env = { ...process.env, KINESIS_ENDPOINT: `http://127.0.0.1:${port}` };
  // As the page's line, from the checkout (npx finds node_modules/.bin), on the free port.
  // A process group of its own: npx runs kinesalite in a child of its own, which must go too.
  const kinesalite = spawn('sh', ['-ec', `exec ${startLine.replace('4567', String(port))}`], { cwd: repoRoot, stdio: 'ignore', detached: true });
  t.after(() => {
    try {
      process.kill(-kinesalite.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  const sh = (line: string): string => execFileSync('sh', ['-ec', line], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 });
  const created = await waitUntil(
    () => {
      try {
        return sh(createLine);
      } catch {
        return undefined; // kinesalite not listening yet
      }
    },
    'the stream created',
    30_000,
    200,
  );
  assert.equal(created.trim(), 'stream fleet is ACTIVE');

  const dir = await tempDir(t);
  assert.match(yaml, /endpoint: http:\/\/127\.0\.0\.1:4567/);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('127.0.0.1:4567', `127.0.0.1:${port}`)}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const lines = publish.split('\n');
  const [pub, read] = lines.filter((l) => !l.startsWith('#')).map(command) as [string, string];
  const shown = lines.find((l) => l.startsWith('# '))!.slice(2);
  assert.ok(pub.startsWith('mosquitto_pub ') && read.startsWith('node docs/examples/kinesis-local.mjs read'));
  sh(pub.replace('mosquitto_pub ', `mosquitto_pub -p ${gw.mqttPort} `));
  // The exporter sends within lingerMs: read again until the record is there.
  const got = await waitUntil(() => sh(read).trim() || undefined, 'the record in kinesalite', 20_000, 200);
  assert.equal(got, shown);
});
