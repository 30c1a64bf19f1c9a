// A YAML or JSON syntax error names its position once, as file:line:col (or line L, column C in a
// rule update's errors): the yaml package's text ends with "at line 4, column 1:" and an excerpt, and
// JSON.parse's with "at position 8", which were printed besides the position Gatehouse gives.
// `gatehouse check-config`, `start`, `rules check` and a rule set PUT to a real in-process gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir, testDeps } from '../helpers/index.js';

// line 3 opens a flow sequence that line 4 does not close: yaml reports line 4, column 1
const BAD_YAML = 'dataDir: /tmp/x\nbroker:\n  listeners: [ { port: 1 }\nstreams:\n  a: { maxBytes: 1 }\n';
// an unclosed quote in a rule set: yaml reports line 6, column 1 (the end of the text)
const BAD_RULES = "version: 1\nrules:\n  - name: a\n    sql: \"SELECT 1 FROM 'a'\n  - b: [\n";

/** How often the position line L, column C is written, in any of the forms a parser or we use. */
function positions(text: string, line: number, col: number): number {
  return text.match(new RegExp(`:${line}:${col}\\b|line ${line}, column ${col}|at position \\d+`, 'g'))?.length ?? 0;
}

test('check-config and start: a YAML syntax error gives its position once, as file:line:col', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, BAD_YAML);
  const want = `GH_CONFIG_READ: cannot read the config file ${file}: Flow sequence in block collection must be sufficiently indented and end with a ] (at ${file}:4:1). Fix: fix the YAML/JSON syntax at that line and column`;
  const checked = await runCaptured(main, ['check-config', file]);
  assert.equal(checked.err, `gatehouse check-config: ${want}\n`);
  assert.equal(positions(checked.err, 4, 1), 1, checked.err);
  // start reads the file the same way (npm start is gatehouse start): it exits 78 before it binds anything
  const started = await runCaptured(main, ['start', '--config', file, '--mqtt-port', '0', '--admin-port', '0']);
  assert.equal(started.code, 78, started.err);
  assert.equal(started.err.split('\n')[0], `gatehouse start: ${want}`);
});

test('check-config: a JSON syntax error gives a line and column, not an offset', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.json');
  await writeFile(file, '{"dataDir": "/tmp/x",\n  "streams": {},, }\n');
  const checked = await runCaptured(main, ['check-config', file]);
  assert.equal(
    checked.err,
    `gatehouse check-config: GH_CONFIG_READ: cannot read the config file ${file}: Expected double-quoted property name in JSON (at ${file}:2:17). Fix: fix the YAML/JSON syntax at that line and column\n`,
  );
});

test('rules check: a rule set file with a YAML syntax error gives its position once', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'rules.yaml');
  await writeFile(file, BAD_RULES);
  const checked = await runCaptured(main, ['rules', 'check', file]);
  assert.equal(checked.code, 1);
  assert.match(
    checked.err,
    new RegExp(
      `^gatehouse rules: GH_RULESET_INVALID: rule set file ${file} has 1 error:\n  - it is not valid YAML/JSON: Missing closing "quote \\(at ${file}:6:1\\)\\. Fix: `,
    ),
  );
  assert.equal(positions(checked.err, 6, 1), 1, checked.err);
});

test('a rule set PUT to the admin API with a YAML syntax error: the position in where, once, on one line', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger: testDeps().logger,
    registry: createMetricsRegistry('test', 'gw-test'),
    version: 'test',
  });
  t.after(() => gw.stop());
  const res = await fetch(`http://127.0.0.1:${gw.admin!.address().port}/api/rules`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: BAD_RULES,
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { errors: Array<{ rule: string; where: string; message: string }> };
  assert.deepEqual(body.errors, [{ rule: '', where: 'line 6, column 1', message: 'not JSON/YAML: Missing closing "quote' }]);
});
