// docs/shadows.md's worked example runs as written: a real gateway process with the default
// configuration (free ports), the page's mosquitto_sub, mosquitto_rr and `gatehouse shadow get`
// lines run by sh (Debian `mosquitto-clients`), the port (and the admin address) added; what each
// prints is compared with what the page shows, timestamps aside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { needBinary, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { cliCommand, startGatewayProcess } from '../helpers/gateway-process.js';

const PAGE = join(repoRoot, 'docs', 'shadows.md');
const HEADING = '## Worked example: an app sets a colour, the device follows';

/** The fenced blocks of `lang` in the worked example's section. */
function blocks(text: string, lang: string): string[] {
  const from = text.indexOf(HEADING);
  assert.ok(from >= 0, `docs/shadows.md has '${HEADING}'`);
  const end = text.indexOf('\n## ', from + HEADING.length);
  const section = text.slice(from, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!.trim());
}

/** Timestamps (epoch seconds) made 0: what the page shows is one run's. */
const timeless = (json: string): unknown => JSON.parse(json.replace(/"timestamp":\s*\d+/g, '"timestamp":0'));

const skip = needBinary('mosquitto_rr', 'mosquitto-clients') || needBinary('mosquitto_sub', 'mosquitto-clients');

test("docs/shadows.md's worked example: the delta to the device, the accepted answers, the document, as the page shows", {
  skip,
  timeout: 90_000,
}, async (t) => {
  const page = await readFile(PAGE, 'utf8');
  const dir = await tempDir(t, 'gatehouse-shadow-doc-');
  const gw = await startGatewayProcess(undefined, ['--data-dir', join(dir, 'data')]);
  t.after(() => gw.kill9());
  const [subLine, firstUpdate, rest] = blocks(page, 'sh') as [string, string, string];
  const [accepted, delta] = blocks(page, 'json') as [string, string];
  const { cmd, args } = cliCommand();
  const local = (line: string): string =>
    line
      .replace(/^(mosquitto_\w+) /, `$1 -p ${gw.mqttPort} `)
      .replace(/^gatehouse /, `${[cmd, ...args].map((a) => JSON.stringify(a)).join(' ')} `)
      .replace(/^(.* shadow .*)$/, `$1 --admin ${gw.adminUrl}`);
  const sh = (line: string): string => execFileSync('sh', ['-ec', local(line)], { cwd: dir, timeout: 30_000 }).toString();

  // the device's mosquitto_sub, running until its one message
  const sub = spawn('sh', ['-ec', local(subLine)], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => sub.kill());
  let subOut = '';
  sub.stdout.on('data', (d: Buffer) => {
    subOut += d.toString();
  });
  const subExit = once(sub, 'exit');
  await waitUntil(
    async () => ((await (await fetch(`${gw.adminUrl}/api/clients`)).json()) as { clients: unknown[] }).clients.length === 1,
    'the device subscribed',
    10_000,
  );
  assert.deepEqual(timeless(sh(firstUpdate)), timeless(accepted), 'update/accepted as the page shows it');
  await subExit;
  assert.deepEqual(timeless(subOut), timeless(delta), 'the delta as the page shows it');

  const outs = rest.split('\n').map(sh);
  assert.equal((JSON.parse(outs[0]!) as { version: number }).version, 2, 'the report: version 2');
  const got = JSON.parse(outs[1]!) as { state: object; version: number };
  assert.deepEqual(got.state, { desired: { color: 'green' }, reported: { color: 'green' } }, 'get/accepted: no delta left');
  assert.equal(got.version, 2);
  assert.deepEqual(timeless(outs[2]!), timeless(outs[1]!), '`gatehouse shadow get` prints the same document');
  // the page's 409: an update with version 1 now
  const stale = execFileSync(
    'sh',
    [
      '-ec',
      local(
        `mosquitto_rr -t '$aws/things/lamp-1/shadow/update' -e '$aws/things/lamp-1/shadow/update/rejected' -m '{"state":{"desired":{"color":"red"}},"version":1}'`,
      ),
    ],
    { timeout: 30_000 },
  ).toString();
  assert.deepEqual({ ...(JSON.parse(stale) as object), timestamp: 0 }, { code: 409, message: 'Version conflict', timestamp: 0 });
  assert.match(page, /"code":409,"message":"Version conflict"/);
});
