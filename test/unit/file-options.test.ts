// A file source's regular expressions are compiled by its options schema: one that does not
// compile is a config error with its key path (check-config), not a bare SyntaxError at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { buildChain } from '../../gateway/pipeline/sources/file/parsers/converters.js';
import { checkConfigText } from '../helpers/check-config.js';

const base = { type: 'file', name: 'f', paths: ['/var/log/app/*.log'] };

test('options: an invalid multiLineStartPattern or matchPattern is refused at its key, naming the problem', () => {
  const r = fileSourceSchema.safeParse({
    ...base,
    multiLineStartPattern: '([',
    dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG', matchPattern: '(\\d+' }],
  });
  assert.equal(r.success, false);
  assert.deepEqual(
    r.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [
      ['multiLineStartPattern', 'Invalid regular expression: /([/: Unterminated character class'],
      ['dataProcessingOptions.0.matchPattern', 'Invalid regular expression: /(\\d+/: Unterminated group'],
    ],
  );
  assert.equal(fileSourceSchema.safeParse({ ...base, multiLineStartPattern: '^\\d{4}-' }).success, true);
});

test('options: exclude takes file names; a path (which excluded every file) is refused at its key', () => {
  const r = fileSourceSchema.safeParse({ ...base, exclude: ['*.gz', '/var/log/app/debug/*'] });
  assert.equal(r.success, false);
  assert.deepEqual(
    r.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['exclude.1', 'exclude takes file names (globs such as *.gz or debug-*.log), not paths; to leave a folder out, make paths not reach it']],
  );
  assert.equal(fileSourceSchema.safeParse({ ...base, exclude: ['*.gz', 'debug-*.log'] }).success, true);
});

test('check-config refuses an invalid pattern with its key path, as start would', async (t) => {
  const r = await checkConfigText(
    t,
    [
      'sources:',
      '  - type: file',
      '    name: f',
      '    paths: [/var/log/app/*.log]',
      '    multiLineStartPattern: "(["',
      '    dataProcessingOptions:',
      "      - { optionName: LOGTOJSON, logFormat: SYSLOG, matchPattern: '(\\d+' }",
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 1, r.out);
  assert.match(r.err, /GH_CONFIG_INVALID/);
  assert.match(r.err, /sources\.0\.multiLineStartPattern: Invalid regular expression: \/\(\[\/: Unterminated character class/);
  assert.match(r.err, /sources\.0\.dataProcessingOptions\.0\.matchPattern: Invalid regular expression: \/\(\\d\+\/: Unterminated group/);
});

test('matchPattern: a trailing escaped dollar is a literal dollar, not the end anchor to drop', () => {
  const opt = fileSourceSchema.parse({
    ...base,
    dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG', matchPattern: '(\\w+) costs (\\d+)\\$', customFieldNames: ['item', 'price'] }],
  }).dataProcessingOptions;
  const run = buildChain(opt, 'raw');
  assert.deepEqual(JSON.parse(run('tea costs 3$', 0).text!), { item: 'tea', price: '3' });
  assert.equal(run('tea costs 3', 0).error, 'LOGTOJSON: does not match SYSLOG matchPattern');
  // A trailing unescaped $ (and a leading ^) the user wrote are still dropped: the match is anchored anyway.
  const anchored = buildChain(
    fileSourceSchema.parse({
      ...base,
      dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG', matchPattern: '^(\\w+)$', customFieldNames: ['w'] }],
    }).dataProcessingOptions,
    'raw',
  );
  assert.deepEqual(JSON.parse(anchored('tea', 0).text!), { w: 'tea' });
});

test('options: a pattern that could stall the gateway on a crafted line is refused at its key', () => {
  const r = fileSourceSchema.safeParse({
    ...base,
    multiLineStartPattern: '(\\w{1,20}\\s?)+$',
    dataProcessingOptions: [{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG', matchPattern: '((a+)b)+\\2' }],
  });
  assert.equal(r.success, false);
  const issues = r.error?.issues.map((i) => [i.path.join('.'), i.message]) ?? [];
  assert.deepEqual(
    issues.map(([path]) => path),
    ['multiLineStartPattern', 'dataProcessingOptions.0.matchPattern'],
  );
  for (const [, message] of issues) assert.match(message ?? '', /may backtrack exponentially .* write \+ or \* instead of \{n,m\}/);
  // the message names the pattern as written, not as anchored for LOGTOJSON
  assert.match(issues[1]?.[1] ?? '', /pattern '\(\(a\+\)b\)\+\\2'/);
  // what V8's linear-time fallback finishes is accepted
  assert.equal(fileSourceSchema.safeParse({ ...base, multiLineStartPattern: '(\\w+\\s?)+$' }).success, true);
});

test("topic: the gateway's ${...} spelling fills the placeholders as {...} does; an unknown placeholder is refused at its key", async () => {
  const { topicFor } = await import('../../gateway/pipeline/sources/file/records.js');
  // `${name}` is how every other template of the gateway is written (serial links, Modbus, OPC UA,
  // rules): it was accepted and gave the topic 'logs/$web/$access', which no 'logs/web/+' matched.
  assert.equal(topicFor('logs/${name}/${stem}', 'web', '/var/log/app/access.log'), 'logs/web/access');
  assert.equal(topicFor('logs/{name}/{file}/{dir}', 'web', '/var/log/app/access.log'), 'logs/web/access.log/app');
  const r = fileSourceSchema.safeParse({ ...base, topic: 'logs/{source}/${stem}' });
  assert.equal(r.success, false);
  assert.deepEqual(
    r.error?.issues.map((i) => i.path.join('.')),
    ['topic'],
  );
  assert.match(
    r.error?.issues[0]?.message ?? '',
    /\{source\} is not a placeholder of a file source's topic: use \{name\}, \{file\}, \{stem\}, \{dir\} or \{path\}/,
  );
  assert.equal(fileSourceSchema.safeParse({ ...base, topic: 'logs/${name}/{stem}' }).success, true);
});
