// docs/broker.md's "WebSockets" runs as written: its first YAML block started as a real gateway
// process (`gatehouse start`), its MQTT.js script run by node from the checkout (it resolves `mqtt`
// from node_modules), the port 9001 moved to the one the listener took; the script prints the line
// its comment shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, tempDir } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const HEADING = '### WebSockets';

function blocks(text: string, lang: string): string[] {
  const from = text.indexOf(HEADING);
  assert.ok(from >= 0, `docs/broker.md has '${HEADING}'`);
  const end = text.indexOf('\n### ', from + HEADING.length);
  const section = text.slice(from, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``, 'g'))].map((m) => m[1]!);
}

test("docs/broker.md 'WebSockets': the MQTT.js script gets its own message back over ws:// from a gateway started with the page's config", async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'broker.md'), 'utf8');
  const [yaml] = blocks(page, 'yaml') as [string];
  const [script] = blocks(page, 'js') as [string];
  assert.match(yaml, /port: 9001, protocol: websockets/);
  assert.match(script, /ws:\/\/127\.0\.0\.1:9001/);
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('port: 9001', 'port: 0')}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const started = gw.logs.find((l) => l.msg === 'gatehouse started') as { mqtt: Array<{ port: number; protocol: string }> };
  const ws = started.mqtt.find((l) => l.protocol === 'websockets')!;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script.replace('9001', String(ws.port))], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const shown = /\/\/ (hmi\/\S+ \S+)/.exec(script)![1];
  assert.equal(out.trim(), shown);
  assert.equal(await gw.stop(), 0, 'the gateway stops cleanly');
});
