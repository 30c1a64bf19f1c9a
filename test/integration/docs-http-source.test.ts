// docs/http-source.md's "Try it" runs as written: its configuration started as a real gateway
// process (the port moved to a free one, a data dir of the test's), its curl lines run by sh, and
// each answer is the one the comment under it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, needBinary, repoRoot, tempDir } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

/** The first fenced block of `lang` after `heading` in the page. */
function blockAfter(text: string, heading: string, lang: string): string {
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `docs/http-source.md has '${heading}'`);
  const open = text.indexOf(`\`\`\`${lang}\n`, from);
  const close = text.indexOf('\n```', open + 1);
  return text.slice(open + lang.length + 4, close + 1);
}

test("docs/http-source.md 'Try it': the config starts and the curl examples answer what the page says", { skip: needBinary('curl', 'curl') }, async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'http-source.md'), 'utf8');
  const yaml = blockAfter(page, '## Try it', 'yaml');
  const sh = blockAfter(page, '## Try it', 'sh');
  assert.match(yaml, /port: 8080/);
  const port = await freePort(t);
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('port: 8080', `port: ${port}`)}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const commands = sh.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const expected = sh
    .split('\n')
    .filter((l) => l.startsWith('# {'))
    .map((l) => l.slice(2));
  assert.equal(commands.length, expected.length, 'one answer shown per command');
  for (const [i, c] of commands.entries()) {
    const out = execFileSync('sh', ['-ec', c.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`)], { encoding: 'utf8' });
    assert.equal(out, expected[i], c);
  }
  const streams = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; appended?: number; lastSeq?: number }> };
  const archive = streams.streams.find((s) => s.name === 'archive');
  assert.ok(archive, 'the archive stream');
  assert.equal(archive.lastSeq ?? archive.appended, 3, JSON.stringify(archive));
});

test("docs/http-source.md 'Retained': a subscriber started after the POST gets the reading at once, as the page shows", {
  skip: needBinary('curl', 'curl') ?? needBinary('mosquitto_sub', 'mosquitto-clients'),
}, async (t) => {
  const page = await readFile(join(repoRoot, 'docs', 'http-source.md'), 'utf8');
  const yaml = blockAfter(page, '### Retained', 'yaml');
  const sh = blockAfter(page, '### Retained', 'sh');
  const port = await freePort(t);
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml.replace('port: 8080', `port: ${port}`)}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const mqttPort = new URL(gw.mqttUrl).port;
  const lines = sh.split('\n').filter((l) => l.trim() !== '');
  const commands = lines.filter((l) => !l.startsWith('#'));
  const expected = lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
  assert.equal(commands.length, 2);
  for (const [i, c] of commands.entries()) {
    const run = c.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`).replace('-p 1883', `-p ${mqttPort}`).replace('-C 1', '-C 1 -W 10');
    // mosquitto_sub in the background (async): the gateway is another process, but keep this one's loop free
    const out = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-ec', run], { encoding: 'utf8', timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    assert.equal(out.trimEnd(), expected[i], c);
  }
});
