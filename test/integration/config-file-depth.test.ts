// A config file nested thousands deep (a generated inline rules: or any value) is refused before
// it is parsed, saying what is wrong, the limit and where, by `start`, `check-config` and each
// SIGHUP reload; the YAML parser's recursion said 'Maximum call stack size exceeded'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { checkConfigFile } from '../helpers/check-config.js';
import { repoRoot, tempDir, waitUntil } from '../helpers/index.js';

const refusal = /it nests lists and objects deeper than 64 levels .*: not parsed/;

test('a config file with inline rules nested 10,000 deep is refused with the limit and the line by start, check-config and each SIGHUP reload', async (t) => {
  const dir = await tempDir(t);
  const head = `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n`;
  const rules = (extra: string) =>
    `rules:\n  version: 1\n  rules:\n    - name: r\n      sql: "SELECT * FROM 'a/#'"\n      actions: [{ republish: { topic: b } }]\n${extra}`;
  const deep = `${head}${rules(`      extra: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`)}`;
  const config = await writeConfig(dir, deep);

  // check-config: names the file, the line and the column where the nesting passes the limit.
  const checked = await checkConfigFile(config);
  assert.equal(checked.code, 1);
  assert.match(checked.err, /GH_CONFIG_READ/);
  assert.match(checked.err, refusal);
  assert.match(checked.err, /gatehouse\.yaml:9:74\)/, 'the line and column where it goes too deep');
  assert.doesNotMatch(checked.err, /call stack/);

  // start: the same, exit 78 (a configuration error).
  const { cmd, args } = cliCommand();
  const start = spawnSync(cmd, [...args, 'start', '--config', config, '--mqtt-port', '0', '--admin-port', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(start.status, 78, start.stderr);
  assert.match(start.stderr, refusal);
  assert.doesNotMatch(start.stderr, /call stack/);

  // A JSON config file too (JSON.parse takes it; the code walking the value overflowed later).
  const json = join(dir, 'gatehouse.json');
  await writeFile(
    json,
    `{"dataDir":${JSON.stringify(join(dir, 'data'))},"sources":[{"name":"f","type":"file","paths":["x.log"],"stream":"s","dataProcessingOptions":[{"optionName":"ADDMETADATA","metadata":{"m":${'['.repeat(100_000)}${']'.repeat(100_000)}}}]}]}`,
  );
  const checkedJson = await checkConfigFile(json);
  assert.equal(checkedJson.code, 1);
  assert.match(checkedJson.err, refusal);
  assert.match(checkedJson.err, /gatehouse\.json:1:\d+\)/);

  // Each SIGHUP reload: logged, nothing changed, the gateway keeps running; the fixed file reloads.
  await writeConfig(dir, `${head}${rules('')}`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  await writeConfig(dir, deep);
  const refused = () => gw.logs.filter((l) => l.msg === 'reload: the config file is not valid; nothing changed');
  for (let i = 1; i <= 3; i++) {
    gw.proc.kill('SIGHUP');
    const entry = await waitUntil(() => refused()[i - 1], `reload ${i} refused`, 15_000);
    assert.match(String(entry.err), refusal);
  }
  assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
  await writeConfig(dir, `${head}${rules('')}`.replace('version: 1', 'version: 2'));
  gw.proc.kill('SIGHUP');
  await waitUntil(
    async () => ((await (await fetch(`${gw.adminUrl}/api/rules`)).json()) as { activeVersion: number }).activeVersion === 2,
    'the fixed file reloads',
    15_000,
  );
});

test('a config at the depth of the shipped examples, and a JSON string holding brackets, still load', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'ok.json');
  await writeFile(
    json,
    `{"dataDir":${JSON.stringify(join(dir, 'data'))},"rules":{"version":1,"rules":[{"name":"r","sql":"SELECT '${'['.repeat(500)}' AS s FROM 'a'","actions":[{"republish":{"topic":"b"}}]}]}}`,
  );
  const ok = await checkConfigFile(json);
  assert.doesNotMatch(ok.err, /nests lists and objects/);
  const shipped = await checkConfigFile(join(repoRoot, 'docs', 'examples', 'meter.yaml'));
  assert.doesNotMatch(shipped.err + shipped.out, /nests lists and objects/);
});
