// `gatehouse import-agent-config`: Kinesis Agent's documented example configurations (its
// repository's configuration/example/agent.json and configuration/release/aws-kinesis-agent.json,
// and a multi-line flow as in the AWS Firehose developer guide) convert into configs that pass
// `gatehouse check-config`, and what cannot be mapped is listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { main } from '../../gateway/cli/main.js';
import { tempDir } from '../helpers/index.js';

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void): Writable =>
    new Writable({
      write: (c: Buffer, _e, cb) => {
        add(c.toString());
        cb();
      },
    });
  const code = await main(argv, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

const EXAMPLE = {
  checkpointFile: '/tmp/aws-kinesis-agent-checkpoints/main.log',
  'cloudwatch.emitMetrics': true,
  'cloudwatch.endpoint': 'https://monitoring.us-west-2.amazonaws.com',
  'kinesis.endpoint': 'https://kinesis.us-west-2.amazonaws.com',
  awsAccessKeyId: 'ACCESSKEY',
  awsSecretAccessKey: 'SECRETKEY',
  flows: [
    {
      filePattern: '/tmp/aws-kinesis-agent-test1.log*',
      initialPosition: 'END_OF_FILE',
      kinesisStream: 'aws-kinesis-agent-test1',
      dataProcessingOptions: [{ optionName: 'CSVTOJSON', customFieldNames: ['field1', 'field2', 'field3'], delimiter: '\\t' }],
    },
    {
      filePattern: '/tmp/aws-kinesis-agent-test2.log*',
      initialPosition: 'START_OF_FILE',
      kinesisStream: 'aws-kinesis-agent-test2',
      dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }],
    },
  ],
};

const RELEASE = {
  'cloudwatch.emitMetrics': true,
  'kinesis.endpoint': '',
  'firehose.endpoint': '',
  flows: [
    { filePattern: '/tmp/app.log*', kinesisStream: 'yourkinesisstream', partitionKeyOption: 'RANDOM' },
    { filePattern: '/tmp/app.log*', deliveryStream: 'yourdeliverystream' },
  ],
};

const MULTILINE = {
  'firehose.endpoint': 'https://firehose.eu-west-1.amazonaws.com',
  flows: [
    {
      filePattern: '/var/log/app/*.log',
      deliveryStream: 'app-logs',
      multiLineStartPattern: '\\[SEQUENCE=',
      skipHeaderLines: 1,
      maxBufferAgeMillis: 5000,
      maxBufferSizeRecords: 200,
      dataProcessingOptions: [
        { optionName: 'SINGLELINE' },
        { optionName: 'LOGTOJSON', logFormat: 'SYSLOG', matchPattern: '^(\\w+) (.*)$', customFieldNames: ['level', 'text'] },
        { optionName: 'ADDEC2METADATA' },
      ],
      truncatedRecordTerminator: '\n',
    },
  ],
};

for (const [label, agent] of [
  ['configuration/example/agent.json', EXAMPLE],
  ['configuration/release/aws-kinesis-agent.json', RELEASE],
  ['a multi-line Firehose flow', MULTILINE],
] as const) {
  test(`import-agent-config converts ${label} into a config check-config accepts`, async (t) => {
    const dir = await tempDir(t);
    const agentFile = join(dir, 'agent.json');
    const out = join(dir, 'gatehouse.yaml');
    await writeFile(agentFile, JSON.stringify(agent, null, 2));
    const r = await cli(['import-agent-config', agentFile, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const yaml = await readFile(out, 'utf8');
    // dataDir into the temp dir so check-config has a place (the converted file names none).
    await writeFile(out, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${yaml}`);
    const check = await cli(['check-config', out]);
    assert.equal(check.code, 0, `${check.stdout}${check.stderr}\n${yaml}`);
    const config = parseYaml(yaml) as { sources: Array<Record<string, unknown>>; exporters: Array<{ destination: Record<string, unknown> }> };
    assert.equal(config.sources.length, agent.flows.length);
    t.diagnostic(r.stderr.trim());
  });
}

test('import-agent-config maps each flow setting and lists what it cannot map', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.json'), JSON.stringify(EXAMPLE));
  const r = await cli(['import-agent-config', join(dir, 'a.json')]);
  assert.equal(r.code, 0);
  const c = parseYaml(r.stdout) as {
    sources: Array<Record<string, unknown>>;
    rules: { rules: Array<{ sql: string }> };
    exporters: Array<{ stream: string; destination: Record<string, unknown> }>;
  };
  assert.deepEqual(c.sources[0], {
    type: 'file',
    name: 'aws-kinesis-agent-test1',
    paths: ['/tmp/aws-kinesis-agent-test1.log*'],
    topic: 'file/aws-kinesis-agent-test1',
    initialPosition: 'end_of_file',
    dataProcessingOptions: [{ optionName: 'CSVTOJSON', customFieldNames: ['field1', 'field2', 'field3'], delimiter: '\\t' }],
  });
  assert.equal(c.rules.rules[1]!.sql, "SELECT * FROM 'file/aws-kinesis-agent-test2'");
  assert.deepEqual(c.exporters[1], {
    name: 'aws-kinesis-agent-test2-kinesis',
    stream: 'aws-kinesis-agent-test2',
    destination: { type: 'kinesis', streamName: 'aws-kinesis-agent-test2', region: 'us-west-2', accessKeyId: 'ACCESSKEY', secretAccessKey: 'SECRETKEY' },
  });
  for (const key of ['checkpointFile', 'cloudwatch.emitMetrics', 'cloudwatch.endpoint', 'awsAccessKeyId'])
    assert.match(r.stderr, new RegExp(key.replace('.', '\\.')), `unmapped ${key} listed`);
  const multi = join(dir, 'm.json');
  await writeFile(multi, JSON.stringify(MULTILINE));
  const m = await cli(['import-agent-config', multi]);
  assert.match(m.stderr, /ADDEC2METADATA/);
  assert.match(m.stderr, /truncatedRecordTerminator/);
  const mc = parseYaml(m.stdout) as { exporters: Array<{ batch: unknown; destination: Record<string, unknown> }>; sources: Array<Record<string, unknown>> };
  assert.deepEqual(mc.exporters[0]!.batch, { lingerMs: 5000, maxRecords: 200 });
  assert.equal(mc.exporters[0]!.destination.region, 'eu-west-1');
  assert.equal(mc.sources[0]!.multiLineStartPattern, '\\[SEQUENCE=');
  assert.equal(mc.sources[0]!.skipHeaderLines, 1);
  const bad = await cli(['import-agent-config', join(dir, 'missing.json')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /GH_CONFIG_READ/);
});

test('import-agent-config: partitionKeyOption on a Firehose flow is named as without meaning there, and RANDOM by default says it was not set', async (t) => {
  const dir = await tempDir(t);
  const agent = {
    flows: [
      { filePattern: '/tmp/a.log', kinesisStream: 'k' },
      { filePattern: '/tmp/b.csv', deliveryStream: 'plc', partitionKeyOption: 'RANDOM' },
    ],
  };
  await writeFile(join(dir, 'a.json'), JSON.stringify(agent));
  const r = await cli(['import-agent-config', join(dir, 'a.json')]);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /flows\[0\]\.partitionKeyOption RANDOM \(not set: the agent's default\): records are keyed by topic/);
  // Before: 'flows[1].partitionKeyOption: not supported', as if Gatehouse lacked something there.
  assert.match(r.stderr, /flows\[1\]\.partitionKeyOption: Firehose records have no partition key/);
  assert.doesNotMatch(r.stderr, /not supported/);
});
