import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { loadConfig, parseConfigText } from '../../gateway/config/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { configDocsMarkdown } from '../../gateway/cli/config-docs.js';
import { main } from '../../gateway/cli/main.js';
import { repoRoot, tempDir } from '../helpers/index.js';
import { Writable } from 'node:stream';

function sink(): { stream: Writable; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => buf };
}

test('no config file gives the zero-config defaults', async () => {
  const c = await loadConfig(undefined);
  assert.equal(c.broker.listeners[0]?.host, '127.0.0.1');
  assert.equal(c.broker.listeners[0]?.port, 1883);
  assert.equal(c.admin.port, 9883);
  assert.ok(c.dataDir.endsWith('gatehouse-data'));
  assert.deepEqual(Object.keys(c.streams), ['archive']);
  assert.equal(c.store.durability, 'fsync');
});

test('flags override the file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ host: 127.0.0.1, port: 1999 }]\nadmin: { port: 7000 }\ndataDir: data\n');
  const c = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  assert.equal(c.broker.listeners[0]?.port, 0);
  assert.equal(c.admin.port, 0);
  assert.equal(c.dataDir, join(dir, 'data'), 'a relative dataDir resolves against the config file folder');
});

test('an invalid file is refused with every problem: key path, expected, found', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ port: "x" }]\n  maxConnections: -1\nstore: { durability: sometimes }\nbogus: 1\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(isGatehouseError(err, 'GH_CONFIG_INVALID'));
    const m = err.message;
    assert.match(m, /broker\.listeners\.0\.port/);
    assert.match(m, /found string "x"/);
    assert.match(m, /broker\.maxConnections/);
    assert.match(m, /store\.durability/);
    assert.match(m, /bogus/);
    assert.ok(Array.isArray(err.details) && err.details.length >= 4);
    return true;
  });
});

test('YAML syntax errors name the line', () => {
  assert.throws(
    () => parseConfigText('a: [1, 2\nb: c', 'x.yaml'),
    (err: unknown) => isGatehouseError(err, 'GH_CONFIG_READ') && /x\.yaml:\d+:\d+/.test(err.where ?? ''),
  );
});

test('listening beyond loopback with anonymous access is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'open.yaml');
  await writeFile(file, 'broker:\n  listeners: [{ host: 0.0.0.0, port: 1883 }]\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INSECURE') && /loopback/.test(err.message) && !!err.hint);
  await writeFile(file, 'admin: { host: 0.0.0.0 }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INSECURE') && err.where === 'admin.token');
});

test('an exporter of an undefined stream is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'x.yaml');
  await writeFile(file, 'exporters:\n  - { name: a, stream: nope, destination: { type: file } }\n');
  await assert.rejects(loadConfig(file), (err: unknown) => isGatehouseError(err, 'GH_CONFIG_INVALID') && err.where === 'exporters.0.stream');
});

test('check-config: exit 0 on a good file, 1 with the rule errors on a bad rule set', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good.yaml');
  await writeFile(
    good,
    'rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp FROM \'fleet/+/engine\' WHERE temp > 100"\n      actions: [{ stream: { name: archive } }]\n',
  );
  const out = sink();
  const err = sink();
  assert.equal(await main(['check-config', good], { stdout: out.stream, stderr: err.stream }), 0);
  assert.match(out.text(), /OK/);
  const bad = join(dir, 'bad.yaml');
  await writeFile(
    bad,
    'rules:\n  version: 1\n  rules:\n    - name: hot\n      sql: "SELECT temp FROM \'fleet/+/engine\' WHERE temp >"\n      actions: [{ stream: { name: missing } }]\n',
  );
  const err2 = sink();
  assert.equal(await main(['check-config', bad], { stdout: sink().stream, stderr: err2.stream }), 1);
  assert.match(err2.text(), /GH_RULESET_INVALID/);
  assert.match(err2.text(), /line 1, column \d+/);
});

test('check-config: an unknown destination key is refused with its full config path (issue #17)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'typo.yaml');
  await writeFile(file, 'exporters:\n  - { name: a, stream: archive, destination: { type: file, dirr: /tmp/out } }\n');
  const err = sink();
  assert.equal(await main(['check-config', file], { stdout: sink().stream, stderr: err.stream }), 1);
  assert.match(err.text(), /GH_DESTINATION_CONFIG: file destination is invalid \(1 problem\):\n {2}- exporters\.0\.destination\.dirr: unknown key 'dirr'/);
});

test('unknown command and bad flags exit 2 with usage', async () => {
  const err = sink();
  assert.equal(await main(['frobnicate'], { stdout: sink().stream, stderr: err.stream }), 2);
  assert.match(err.text(), /unknown command/);
  const err2 = sink();
  assert.equal(await main(['start', '--mqtt-port', 'abc'], { stdout: sink().stream, stderr: err2.stream }), 2);
  assert.match(err2.text(), /GH_ARG_INVALID/);
});

test('docs/configuration.md is generated from the code (regenerate with gatehouse config-docs)', async () => {
  const docs = await readFile(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  assert.equal(docs, configDocsMarkdown(), 'docs/configuration.md is stale: run `node bin/gatehouse.js config-docs > docs/configuration.md`');
});
