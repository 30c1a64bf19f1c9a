// decode(*, 'proto', ...) from the command line: `rules eval --payload-file` decodes a Sparkplug B
// NDATA made by protoc; `rules check --proto-dir` and `check-config` (the configuration's
// protoDescriptorDir, default <dataDir>/proto) name a missing descriptor and what a file holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runRulesCheck, runRulesEval } from '../../gateway/cli/rules-offline.js';
import { buildActionRegistry } from '../../gateway/pipeline/actions/index.js';
import { allDestinationKinds } from '../../gateway/upstream/registry.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { checkConfigFile } from '../helpers/check-config.js';
import { SPARKPLUG_SUBSET_PROTO, protoWorkspace, skipProtoc } from '../helpers/protoc.js';

const SPB = "decode(*, 'proto', 'sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload')";
const NDATA =
  'timestamp: 1700000000000 seq: 7 metrics { name: "Line/Temp" alias: 3 datatype: 10 double_value: 71.25 } metrics { alias: 4 datatype: 8 long_value: 12 }';

test('rules eval --payload-file decodes a Sparkplug B NDATA with the descriptor of --proto-dir', { skip: skipProtoc }, async (t) => {
  const ws = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO });
  await ws.describe('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto');
  const file = join(ws.src, 'ndata.bin');
  await writeFile(file, ws.encode('sparkplug_b.proto', 'org.eclipse.tahu.protobuf.Payload', NDATA));
  const sql = `SELECT ${SPB}.metrics AS metrics, topic(4) AS node FROM 'spBv1.0/+/NDATA/+'`;
  const r = await runCaptured(runRulesEval, ['--sql', sql, '--topic', 'spBv1.0/plant1/NDATA/edge7', '--payload-file', file, '--proto-dir', ws.descriptors]);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    '{"metrics":[{"name":"Line/Temp","alias":"3","datatype":10,"doubleValue":71.25},{"alias":"4","datatype":8,"longValue":"12"}],"node":"edge7"}\n',
  );
  // Bytes that are not a Payload: exit 1, the code and why on stderr (a gateway gives the message to the error action).
  const bad = await runCaptured(runRulesEval, [
    '--sql',
    sql,
    '--topic',
    'spBv1.0/plant1/NDATA/edge7',
    '--payload',
    '{"json": true}',
    '--proto-dir',
    ws.descriptors,
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^gatehouse rules: GH_PROTO_DECODE: cannot decode the payload \(14 bytes\) as org\.eclipse\.tahu\.protobuf\.Payload: /);
  // --payload and --payload-file: one of them.
  const both = await runCaptured(runRulesEval, ['--sql', sql, '--topic', 't', '--payload', '{}', '--payload-file', file]);
  assert.equal(both.code, 2);
  assert.match(both.err, /give --payload or --payload-file, not both/);
});

test('rules check and check-config name a missing descriptor, and the types of a file that lacks the one named', { skip: skipProtoc }, async (t) => {
  const ws = await protoWorkspace(t, { 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO });
  const rules = join(ws.src, 'rules.yaml');
  const ruleSet = (type: string) =>
    `version: 1\nrules:\n  - name: spb\n    sql: "SELECT decode(*, 'proto', 'sparkplug', 'sparkplug_b.desc', 'sparkplug_b', '${type}') AS p FROM 'spBv1.0/+/NDATA/+'"\n    actions: [ { stream: { name: archive } } ]\n`;
  await writeFile(rules, ruleSet('Payload'));
  const check = (dir: string) =>
    runCaptured((argv, io) => runRulesCheck(argv, io, buildActionRegistry({ mode: 'inert', destinations: allDestinationKinds })), [rules, '--proto-dir', dir]);
  const missing = await check(ws.descriptors);
  assert.equal(missing.code, 1);
  assert.match(
    missing.err,
    /rule spb \(line 1, column 8\): GH_PROTO_DESCRIPTOR: the descriptor s3:\/\/sparkplug\/sparkplug_b\.desc is read from .*sparkplug_b\.desc, which does not exist/,
  );
  await ws.describe('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto');
  const ok = await check(ws.descriptors);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /OK, rule set version 1, 1 rule/);

  // check-config: the configuration's protoDescriptorDir (relative to the config file's folder).
  await writeFile(rules, ruleSet('Paylod'));
  const config = join(ws.src, 'g.yaml');
  await writeFile(config, `dataDir: ${JSON.stringify(join(ws.src, 'data'))}\nrulesFile: rules.yaml\nprotoDescriptorDir: ../descriptors\nexporters: []\n`);
  const r = await checkConfigFile(config);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /GH_PROTO_DESCRIPTOR: .*descriptors\/sparkplug\/sparkplug_b\.desc has no message type 'Paylod' in sparkplug_b\.proto \(its message types: org\.eclipse\.tahu\.protobuf\.Payload, org\.eclipse\.tahu\.protobuf\.Payload\.Metric\)/,
  );
  // Without protoDescriptorDir: <dataDir>/proto, where nothing is.
  await writeFile(config, `dataDir: ${JSON.stringify(join(ws.src, 'data'))}\nrulesFile: rules.yaml\nexporters: []\n`);
  const dflt = await checkConfigFile(config);
  assert.equal(dflt.code, 1);
  assert.match(dflt.err, /read from .*\/data\/proto\/sparkplug\/sparkplug_b\.desc, which does not exist/);
});
