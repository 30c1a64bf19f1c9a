// Rules engine: topic index, rule sets, actions, error actions, durability gating, swap, metrics.
// Test doubles: the Publisher and StreamAppender here are in-memory recorders, because the real
// ones (broker publish, LevelDB store) belong to other components; the engine only sees these
// interfaces. Everything else (compiler, index, engine, metrics registry) is the real code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testDeps, metricValue, tempDir } from '../helpers/index.js';
import { TopicIndex, topicMatches } from '../../rules/topic-index.js';
import { compileRuleSet, validateRuleSet } from '../../rules/ruleset.js';
import { createRuleEngine } from '../../rules/engine.js';
import { ActionFailedOn, type ErrorActionPayload } from '../../rules/action-runner.js';
import { loadRuleSetFile } from '../../rules/schema.js';
import { republishAction, streamAction, type Publisher, type StreamAppender } from '../../gateway/pipeline/actions/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { GatehouseError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { AppendRecord } from '../../gateway/store/types.js';
import type { ActionFactory, RuleSetDefinition } from '../../rules/types.js';

function msg(topic: string, payload: string | Buffer, extra: Partial<Message> = {}): Message {
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos: 1,
    source: { kind: 'mqtt', id: 'dev-1' },
    receivedAt: 1234,
    ...extra,
  };
}

class Recorder implements Publisher, StreamAppender {
  published: Array<{ topic: string; payload: string; qos: number; hops?: number }> = [];
  appended: Array<{ stream: string; rec: AppendRecord }> = [];
  failStream = false;
  failPublish = false;
  pending: Array<() => void> = [];
  hold = false;
  publish(p: { topic: string; payload: Buffer; qos: 0 | 1 | 2; hops?: number }): void {
    if (this.failPublish) throw new Error('broker down');
    this.published.push({ topic: p.topic, payload: p.payload.toString(), qos: p.qos, hops: p.hops });
  }
  append(stream: string, rec: AppendRecord): Promise<number> {
    if (this.failStream) return Promise.reject(new GatehouseError('GH_STREAM_FULL', `stream ${stream} is full`));
    this.appended.push({ stream, rec });
    if (this.hold) return new Promise((r) => this.pending.push(() => r(this.appended.length)));
    return Promise.resolve(this.appended.length);
  }
  hasStream(name: string): boolean {
    return name !== 'missing';
  }
}

function setup(def: RuleSetDefinition) {
  const rec = new Recorder();
  const registry = createActionRegistry({ republish: republishAction(rec), stream: streamAction(rec) });
  const deps = testDeps();
  const engine = createRuleEngine(compileRuleSet(def, registry), deps);
  return { rec, registry, deps, engine };
}

test('topic index: +, #, $-topics, parent of #, order, many filters', () => {
  const idx = new TopicIndex<string>();
  const filters = ['a/b', 'a/+', 'a/#', '#', '+/b', '+/+/c', 'x/y/#', '$SYS/#', 'a/b/c'];
  filters.forEach((f) => idx.add(f, f));
  assert.deepEqual([...idx.match('a/b')], ['a/b', 'a/+', 'a/#', '#', '+/b']);
  assert.deepEqual([...idx.match('a')], ['a/#', '#']);
  assert.deepEqual([...idx.match('a/b/c')], ['a/#', '#', '+/+/c', 'a/b/c']);
  assert.deepEqual([...idx.match('x/y')], ['#', 'x/y/#']);
  assert.deepEqual([...idx.match('$SYS/load')], ['$SYS/#']);
  assert.deepEqual([...idx.match('q/r/s/t')], ['#']);
  assert.equal(idx.match('a/b'), idx.match('a/b')); // memoised
  const big = new TopicIndex<number>(100);
  for (let i = 0; i < 1000; i++) big.add(`fleet/${i}/+`, i);
  for (let i = 0; i < 1000; i += 97) assert.deepEqual([...big.match(`fleet/${i}/engine`)], [i]);
  assert.equal(big.match('fleet/1000/engine').length, 0);
  assert.ok(topicMatches('s/+/t', 's/x/t') && !topicMatches('s/+/t', 's/x/y/t'));
});

test('republish with templates, SELECT VALUE, non-durable: handle returns undefined', async () => {
  const { rec, engine, deps } = setup({
    version: 1,
    rules: [
      {
        name: 'hot',
        sql: "SELECT temp, topic(2) AS id FROM 'fleet/+/engine' WHERE temp > 50",
        actions: [{ republish: { topic: 'alerts/${topic(2)}/${upper(kind)}', qos: 1 } }],
      },
      { name: 'colour', sql: "SELECT VALUE rgb FROM 'fleet/#'", actions: [{ republish: { topic: 'colours' } }] },
      { name: 'off', enabled: false, sql: "SELECT * FROM '#'", actions: [{ republish: { topic: 'never' } }] },
    ],
  });
  assert.equal(engine.handle(msg('fleet/t1/engine', '{"temp":60,"kind":"oil","rgb":"red"}')), undefined);
  assert.equal(engine.handle(msg('fleet/t1/engine', '{"temp":40}')), undefined);
  assert.equal(engine.handle(msg('other/topic', '{"temp":99}')), undefined);
  assert.deepEqual(rec.published, [
    { topic: 'alerts/t1/OIL', payload: '{"temp":60,"id":"t1"}', qos: 1, hops: 1 },
    { topic: 'colours', payload: '"red"', qos: 0, hops: 1 },
  ]);
  const c = engine.counters();
  assert.deepEqual(c.get('hot'), { matched: 2, emitted: 1, errors: 0, actionFailures: 0 });
  assert.deepEqual(c.get('off'), { matched: 0, emitted: 0, errors: 0, actionFailures: 0 });
  assert.equal(await metricValue(deps.registry, 'gatehouse_rule_matched_total', { rule: 'hot' }), 2);
  assert.equal(await metricValue(deps.registry, 'gatehouse_rule_emitted_total', { rule: 'colour' }), 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_rules_messages_total'), 3);
  engine.close();
});

test('a Decimal literal divides as a Decimal end to end (p / 1000.0 = 1.5), and each SQL version writes whole Decimals its way', () => {
  const { rec, engine } = setup({
    version: 1,
    rules: [
      {
        name: 'kpa',
        sql: "SELECT values.p / 1000.0 AS kpa, values.p / 1000 AS whole FROM 'plant/+/pressure'",
        actions: [{ republish: { topic: 'kpa/${values.p / 1000.0}' } }],
      },
      {
        name: 'v1',
        sqlVersion: '2015-10-08',
        sql: "SELECT values.p / 1000.0 AS kpa, values.p / 1000 AS whole, values.t AS t FROM 'plant/+/pressure'",
        actions: [{ republish: { topic: 'v1' } }],
      },
      { name: 'v2', sql: "SELECT values.t AS t, values.t / 2 AS half FROM 'plant/+/pressure'", actions: [{ republish: { topic: 'v2' } }] },
    ],
  });
  engine.handle(msg('plant/7/pressure', '{"values":{"p":1500,"t":21.0}}'));
  engine.handle(msg('plant/7/pressure', '{"values":{"p":2000.0,"t":21.5}}'));
  assert.deepEqual(
    rec.published.map((p) => [p.topic, p.payload]),
    [
      ['kpa/1.5', '{"kpa":1.5,"whole":1}'],
      ['v1', '{"kpa":1.5,"whole":1,"t":21.0}'],
      ['v2', '{"t":21,"half":10}'], // 2016-03-23 reads a payload 21.0 as Int 21, as AWS documents
      ['kpa/2', '{"kpa":2,"whole":2}'], // a whole Decimal is written as 2 under 2016-03-23
      ['v1', '{"kpa":2.0,"whole":2.0,"t":21.5}'], // 2015-10-08: payload 2000.0 stays a Decimal
      ['v2', '{"t":21.5,"half":10.75}'],
    ],
  );
  assert.deepEqual(engine.counters().get('v1'), { matched: 2, emitted: 2, errors: 0, actionFailures: 0 });
  engine.close();
});

test('stream action is durable: handle returns a promise that waits for the append; record keeps topic, receivedAt, key', async () => {
  const { rec, engine } = setup({
    version: 1,
    rules: [{ name: 'archive', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive', partitionKey: '${topic(2)}' } }] }],
  });
  rec.hold = true;
  const p = engine.handle(msg('fleet/t9/x', '{"a":1}'));
  assert.ok(p instanceof Promise);
  let done = false;
  void p.then(() => (done = true));
  await Promise.resolve();
  assert.equal(done, false);
  rec.pending.forEach((f) => f());
  await p;
  assert.deepEqual(rec.appended, [{ stream: 'archive', rec: { topic: 'fleet/t9/x', payload: Buffer.from('{"a":1}'), receivedAt: 1234, key: 't9' } }]);
  engine.close();
});

test('action failure: one AWS-format error message to errorAction; durable failure rejects handle()', async () => {
  const { rec, engine, deps } = setup({
    version: 1,
    rules: [
      {
        name: 'both',
        sql: "SELECT * FROM 'dev/#'",
        actions: [{ stream: { name: 'archive' } }, { republish: { topic: 'copy/${topic()}' } }],
        errorAction: { republish: { topic: 'errors/rules' } },
      },
    ],
  });
  rec.failStream = true;
  rec.failPublish = false;
  const p = engine.handle(msg('dev/1', '{"x":1}', { traceId: 't-1' }));
  assert.ok(p);
  await assert.rejects(p, /stream archive is full/);
  const err = rec.published.find((x) => x.topic === 'errors/rules');
  assert.ok(err, 'error action published');
  const body = JSON.parse(err.payload) as ErrorActionPayload;
  assert.deepEqual(body, {
    ruleName: 'both',
    topic: 'dev/1',
    cloudwatchTraceId: 't-1',
    traceId: 't-1',
    clientId: 'dev-1',
    base64OriginalPayload: Buffer.from('{"x":1}').toString('base64'),
    failures: [{ failedAction: 'StreamAction', failedResource: 'archive', errorMessage: 'GH_STREAM_FULL: stream archive is full' }],
  });
  assert.equal(await metricValue(deps.registry, 'gatehouse_rule_action_failures_total', { rule: 'both', action: 'stream' }), 1);
  assert.equal(engine.counters().get('both')!.actionFailures, 1);
  engine.close();
});

test('a failed action names the resource it used for the message (failedResource), and a durable one rejects with its own error', async () => {
  const rec = new Recorder();
  // A durable action writing to a resource named per message, as a templated upstream would.
  const perDevice: ActionFactory = () => ({
    kind: 'stream',
    resource: 'archive-${topic(2)}',
    durable: true,
    execute: (_out, ctx) => Promise.reject(new ActionFailedOn(`archive-${ctx.message.topic.split('/')[1]}`, new GatehouseError('GH_STREAM_FULL', 'full'))),
  });
  const registry = createActionRegistry({ republish: republishAction(rec), stream: perDevice });
  const def = (errorAction: boolean): RuleSetDefinition => ({
    version: 1,
    rules: [
      {
        name: 'r',
        sql: "SELECT * FROM 'dev/#'",
        actions: [{ stream: {} }, ...(errorAction ? [{ republish: { topic: 'copy/${topic()}' } }] : [])],
        ...(errorAction ? { errorAction: { republish: { topic: 'errors/rules' } } } : {}),
      },
    ],
  });
  const engine = createRuleEngine(compileRuleSet(def(true), registry), testDeps());
  rec.failPublish = true;
  await assert.rejects(engine.handle(msg('dev/7', '{}'))!, (err: unknown) => err instanceof GatehouseError && err.code === 'GH_STREAM_FULL');
  rec.failPublish = false;
  await engine.handle(msg('dev/8', '{}'))?.catch(() => undefined); // the error action of dev/7 failed too (broker down)
  const body = JSON.parse(rec.published.find((x) => x.topic === 'errors/rules')!.payload) as ErrorActionPayload;
  assert.deepEqual(
    body.failures.map((f) => [f.failedAction, f.failedResource, f.errorMessage]),
    [['StreamAction', 'archive-8', 'GH_STREAM_FULL: full']],
  );
  engine.close();
  // the same with the short way (one action, no error action)
  const one = createRuleEngine(compileRuleSet(def(false), registry), testDeps());
  await assert.rejects(one.handle(msg('dev/9', '{}'))!, (err: unknown) => err instanceof GatehouseError && err.code === 'GH_STREAM_FULL');
  one.close();
});

test('a republish failing on a templated topic names the topic it rendered in the error action', () => {
  const { rec, engine } = setup({
    version: 1,
    rules: [{ name: 'r', sql: "SELECT * FROM 'dev/#'", actions: [{ republish: { topic: 'copy/${topic()}' } }], errorAction: { stream: { name: 'errs' } } }],
  });
  rec.failPublish = true;
  void engine.handle(msg('dev/1', '{}'));
  const body = JSON.parse(rec.appended[0]!.rec.payload.toString()) as ErrorActionPayload;
  assert.deepEqual(body.failures, [{ failedAction: 'RepublishAction', failedResource: 'copy/dev/1', errorMessage: 'broker down' }]);
  engine.close();
});

test('non-durable failures never gate the ack; two failures make one error message', async () => {
  const { rec, engine } = setup({
    version: 1,
    rules: [
      {
        name: 'r',
        sql: "SELECT * FROM 'a'",
        actions: [{ republish: { topic: 'x' } }, { republish: { topic: 'y' } }],
        errorAction: { stream: { name: 'errors' } },
      },
    ],
  });
  rec.failPublish = true;
  const p = engine.handle(msg('a', '{}'));
  assert.ok(p, 'the durable error action gates the ack');
  await p;
  assert.equal(rec.appended.length, 1);
  const body = JSON.parse(rec.appended[0]!.rec.payload.toString()) as ErrorActionPayload;
  assert.equal(body.failures.length, 2);
  assert.deepEqual(
    body.failures.map((f) => f.failedResource),
    ['x', 'y'],
  );
  engine.close();
});

test('a message the rule cannot evaluate (nested too deep) goes to the error action with GH_RULE_EVAL', async () => {
  const { rec, engine } = setup({
    version: 1,
    rules: [{ name: 'deep', sql: "SELECT a, topic() AS t FROM 'deep/#'", actions: [{ stream: { name: 'out' } }], errorAction: { stream: { name: 'errors' } } }],
  });
  // 10,000 levels: JSON.parse takes it, a recursive step of the evaluation does not.
  const payload = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  const p = engine.handle(msg('deep/1', payload));
  assert.ok(p, 'the durable error action gates the ack');
  await p;
  assert.deepEqual(
    rec.appended.map((a) => a.stream),
    ['errors'],
  );
  const body = JSON.parse(rec.appended[0]!.rec.payload.toString()) as ErrorActionPayload;
  assert.equal(body.failures[0]?.failedAction, 'RuleEvaluation');
  assert.match(body.failures[0]?.errorMessage ?? '', /^GH_RULE_EVAL: the payload is nested too deeply/);
  assert.equal(Buffer.from(body.base64OriginalPayload, 'base64').toString(), payload, 'the original message is kept');
  // Counted for the rule with its last error (what a probation reports when it rolls an update back).
  const c = engine.counters().get('deep')!;
  assert.equal(c.errors, 1);
  assert.match(c.lastError ?? '', /^GH_RULE_EVAL: the payload is nested too deeply/);
  engine.close();
});

test('non-JSON payload: WHERE on fields is false and counted; SELECT * passes bytes', async () => {
  const { rec, engine, deps } = setup({
    version: 1,
    rules: [
      { name: 'w', sql: "SELECT * FROM 'bin' WHERE level > 3", actions: [{ republish: { topic: 'w' } }] },
      { name: 'raw', sql: "SELECT * FROM 'bin'", actions: [{ republish: { topic: 'raw' } }] },
    ],
  });
  engine.handle(msg('bin', Buffer.from([0xde, 0xad, 0xbe, 0xef])));
  assert.deepEqual(
    rec.published.map((p) => p.topic),
    ['raw'],
  );
  assert.equal(await metricValue(deps.registry, 'gatehouse_rules_non_json_total'), 1);
  engine.close();
});

test('swap replaces the rule set in one step; a rule whose definition changed starts its counters from zero', () => {
  const { rec, engine, registry } = setup({ version: 1, rules: [{ name: 'a', sql: "SELECT 1 AS v FROM 't'", actions: [{ republish: { topic: 'o1' } }] }] });
  engine.handle(msg('t', '{}'));
  engine.swap(
    compileRuleSet(
      {
        version: 2,
        rules: [
          { name: 'a', sql: "SELECT 2 AS v FROM 't'", actions: [{ republish: { topic: 'o2' } }] },
          { name: 'b', sql: "SELECT 3 AS v FROM 't'", actions: [{ republish: { topic: 'o3' } }] },
        ],
      },
      registry,
    ),
  );
  engine.handle(msg('t', '{}'));
  assert.deepEqual(
    rec.published.map((p) => `${p.topic}:${p.payload}`),
    ['o1:{"v":1}', 'o2:{"v":2}', 'o3:{"v":3}'],
  );
  assert.equal(engine.counters().get('a')!.matched, 1, 'the changed rule counts from the swap on');
  assert.equal(engine.ruleSet().version, 2);
  engine.close();
});

test('counters follow the rule definition: a rollback does not show the failed definition counts; Prometheus stays monotonic', async () => {
  const good = { name: 'route', sql: "SELECT * FROM 't/#'", actions: [{ republish: { topic: 'ok/${topic(2)}' } }] };
  const bad = { ...good, actions: [{ republish: { topic: '${missing}' } }] };
  const other = { name: 'other', sql: "SELECT * FROM 'u'", actions: [{ republish: { topic: 'u2' } }] };
  const { engine, registry, deps } = setup({ version: 1, rules: [good, other] });
  const series = (name: string) => metricValue(deps.registry, name, { rule: 'route' });
  const failures = () => metricValue(deps.registry, 'gatehouse_rule_action_failures_total', { rule: 'route', action: 'republish' });
  engine.handle(msg('t/a', '{}'));
  engine.handle(msg('u', '{}'));

  // v2 breaks `route` (an empty topic on every message) and leaves `other` as it was.
  engine.swap(compileRuleSet({ version: 2, rules: [bad, { ...other, description: 'same rule, new words' }] }, registry));
  assert.deepEqual(engine.counters().get('route'), { matched: 0, emitted: 0, errors: 0, actionFailures: 0 }, 'changed: from zero');
  assert.equal(engine.counters().get('other')!.matched, 1, 'unchanged (a description is not the definition): kept');
  for (let i = 0; i < 3; i++) engine.handle(msg('t/a', '{}'));
  assert.equal(engine.counters().get('route')!.actionFailures, 3);
  assert.match(engine.counters().get('route')!.lastError ?? '', /republish action/);
  assert.equal(await failures(), 3);
  assert.equal(await series('gatehouse_rule_matched_total'), 4, 'Prometheus: both definitions');

  // Rolled back to v1: the restored rule does not carry the failed definition's counts or error.
  engine.swap(compileRuleSet({ version: 1, rules: [good, other] }, registry));
  assert.deepEqual(engine.counters().get('route'), { matched: 0, emitted: 0, errors: 0, actionFailures: 0 });
  engine.handle(msg('t/a', '{}'));
  assert.deepEqual(engine.counters().get('route'), { matched: 1, emitted: 1, errors: 0, actionFailures: 0 });
  assert.equal(await series('gatehouse_rule_matched_total'), 5, 'never goes backwards');
  assert.equal(await series('gatehouse_rule_emitted_total'), 5);
  assert.equal(await failures(), 3);

  // Toggling a rule keeps it (same definition); a third definition folds the older ones into the total.
  engine.swap(compileRuleSet({ version: 1, rules: [{ ...good, enabled: false }, other] }, registry));
  assert.equal(engine.counters().get('route')!.matched, 1);
  engine.swap(compileRuleSet({ version: 3, rules: [{ ...good, sql: "SELECT * FROM 't/+'" }, other] }, registry));
  engine.handle(msg('t/b', '{}'));
  assert.equal(engine.counters().get('route')!.matched, 1);
  assert.equal(await series('gatehouse_rule_matched_total'), 6);
  assert.equal(await failures(), 3);
  engine.close();
});

test('a failure of an action in flight at the swap counts on the definition that ran it, not on its replacement', async () => {
  const rule = { name: 'keep', sql: "SELECT * FROM 't'", actions: [{ stream: { name: 'archive' } }] };
  const { rec, engine, registry, deps } = setup({ version: 2, rules: [rule] });
  rec.failStream = true;
  const pending = engine.handle(msg('t', '{}'));
  assert.ok(pending, 'a durable action gates the ack');
  engine.swap(compileRuleSet({ version: 1, rules: [{ ...rule, actions: [{ stream: { name: 'other' } }] }] }, registry));
  await assert.rejects(pending, /is full/);
  assert.equal(engine.counters().get('keep')!.actionFailures, 0, 'not the restored definition');
  assert.equal(await metricValue(deps.registry, 'gatehouse_rule_action_failures_total', { rule: 'keep', action: 'stream' }), 1, 'still in Prometheus');
  engine.close();
});

test('republish loop guard stops a rule that feeds itself', () => {
  const { rec, engine } = setup({ version: 1, rules: [{ name: 'loop', sql: "SELECT * FROM 'l/#'", actions: [{ republish: { topic: 'l/x' } }] }] });
  engine.handle(msg('l/x', '{}', { hops: 8 }));
  assert.equal(rec.published.length, 0);
  assert.equal(engine.counters().get('loop')!.actionFailures, 1);
  assert.equal(
    engine.counters().get('loop')!.lastError,
    "republish action: GH_ACTION_FAILED: action 'republish' of rule 'loop' failed: republish loop: message already republished 8 times (at loop). Fix: see the rule errorAction output and the action options",
  );
  engine.close();
});

test('compileRuleSet lists every error with rule name and line:column', async () => {
  const registry = createActionRegistry({ republish: republishAction(new Recorder()), stream: streamAction(new Recorder()) });
  let err: unknown;
  try {
    compileRuleSet(
      {
        version: 1,
        rules: [
          { name: 'bad_sql', sql: "SELECT a FROM 'x' WHERE", actions: [{ republish: { topic: 'o' } }] },
          { name: 'bad_fn', sql: "SELECT\n  nope(a) FROM 'x'", actions: [{ republish: { topic: 'o' } }] },
          { name: 'bad_action', sql: "SELECT * FROM 'x'", actions: [{ kinesis: { stream: 'k' } }, { republish: { qos: 3 } }] },
          { name: 'bad_template', sql: "SELECT * FROM 'x'", actions: [{ republish: { topic: 'o/${topic(}' } }] },
          { name: 'wildcard', sql: "SELECT * FROM 'x'", actions: [{ republish: { topic: 'o/#' } }] },
        ],
      },
      registry,
    );
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof GatehouseError && err.code === 'GH_RULESET_INVALID');
  const text = err.message;
  assert.match(text, /rule bad_sql \(line 1, column 24\): GH_SQL_SYNTAX/);
  assert.match(text, /rule bad_fn \(line 2, column 3\): GH_SQL_SEMANTIC: unknown function nope/);
  assert.match(text, /rule bad_action \(actions\[0\]\): unknown action kind 'kinesis'/);
  assert.match(text, /rule bad_action \(actions\[1\]\.republish\): .*topic/);
  assert.match(
    text,
    /rule bad_template \(actions\[0\]\.republish, column 5.*\): GH_TEMPLATE_INVALID: template 'o\/\$\{topic\(\}' is malformed: bad expression \$\{topic\(\}: /,
  );
  // The catalogue's message of GH_ACTION_FAILED: the action and the rule named, then what is wrong.
  assert.match(
    text,
    /rule wildcard \(actions\[0\]\.republish\): GH_ACTION_FAILED: action 'republish' of rule 'wildcard' failed: topic 'o\/#' contains a wildcard \(fix: publish to a concrete topic\)/,
  );
  assert.equal((err.details as unknown[]).length, 6);
  // shape errors: duplicate names, bad names, no actions
  assert.throws(
    () =>
      compileRuleSet(
        {
          version: 1,
          rules: [
            { name: 'x', sql: "SELECT * FROM 'a'", actions: [{ stream: { name: 's' } }] },
            { name: 'x', sql: "SELECT * FROM 'a'", actions: [] },
            { name: 'bad-name', sql: 'x', actions: [{ stream: { name: 's' } }] },
          ],
        },
        registry,
      ),
    (e: GatehouseError) => /duplicate rule name 'x'/.test(e.message) && /at least one action/.test(e.message) && /letters, digits/.test(e.message),
  );
  const set = compileRuleSet({ version: 1, rules: [{ name: 'm', sql: "SELECT * FROM 'a'", actions: [{ stream: { name: 'missing' } }] }] }, registry);
  await assert.rejects(validateRuleSet(set), /local stream 'missing' is not defined/);
});

test('loadRuleSetFile reads YAML and JSON, with clear errors', async (t) => {
  const dir = await tempDir(t);
  const yml = join(dir, 'rules.yaml');
  await writeFile(yml, "version: 3\nrules:\n  - name: archive\n    sql: SELECT * FROM '#'\n    actions:\n      - stream: { name: archive }\n");
  const def = await loadRuleSetFile(yml);
  assert.equal(def.version, 3);
  assert.equal(def.rules[0]!.enabled, true);
  const js = join(dir, 'rules.json');
  await writeFile(js, JSON.stringify({ version: 1, rules: [{ name: 'a', sql: "SELECT * FROM 'a'", actions: [{ republish: { topic: 'b' } }] }] }));
  assert.equal((await loadRuleSetFile(js)).rules.length, 1);
  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, 'version: [1\n');
  await assert.rejects(loadRuleSetFile(broken), (e: GatehouseError) => e.code === 'GH_RULESET_INVALID' && /broken\.yaml:\d+:\d+/.test(e.where ?? ''));
  await assert.rejects(loadRuleSetFile(join(dir, 'nope.yaml')), (e: GatehouseError) => e.code === 'GH_CONFIG_READ');
});

test('a rule set file whose SQL is refused without a fix of its own prints the catalogue fix of GH_SQL_SYNTAX / GH_SQL_SEMANTIC, with the position', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'rules.yaml');
  await writeFile(
    file,
    "version: 1\nrules:\n  - name: a\n    sql: SELECT a b FROM 't'\n    actions: [{ stream: { name: s } }]\n" +
      "  - name: w\n    sql: SELECT count(*) FROM 't' GROUP BY TUMBLINGWINDOW(ss, 10) LIMIT 0\n    actions: [{ stream: { name: s } }]\n",
  );
  // as `gatehouse rules check FILE` and check-config compile it
  const registry = createActionRegistry({ stream: streamAction(new Recorder()) });
  const def = await loadRuleSetFile(file);
  assert.throws(
    () => compileRuleSet(def, registry, { source: file }),
    (e: GatehouseError) => {
      assert.equal(e.code, 'GH_RULESET_INVALID');
      assert.equal(
        e.message,
        `${file} has 2 errors:\n` +
          "  - rule a (line 1, column 10): GH_SQL_SYNTAX: expected ',' or FROM, found 'b' (fix: see docs/rules-sql.md for the AWS IoT SQL grammar)\n" +
          '  - rule w (line 1, column 64): GH_SQL_SEMANTIC: LIMIT must be > 0 (fix: see docs/rules-sql.md for the functions and their arguments)',
      );
      return true;
    },
  );
});

test('custom action kinds plug into the registry', () => {
  const seen: string[] = [];
  const registry = createActionRegistry({
    republish: republishAction(new Recorder()),
    stream: streamAction(new Recorder()),
    probe: (opts, tools) => {
      const tpl = tools.compileTemplate(String(opts.label));
      return { kind: 'probe', resource: 'probe', durable: false, execute: (out, ctx) => void seen.push(`${tpl.render(ctx)}=${out.toString()}`) };
    },
  });
  const engine = createRuleEngine(
    compileRuleSet({ version: 1, rules: [{ name: 'p', sql: "SELECT VALUE n FROM 's/+'", actions: [{ probe: { label: 'dev ${topic(2)}' } }] }] }, registry),
    testDeps(),
  );
  engine.handle(msg('s/d1', '{"n":5}'));
  assert.deepEqual(seen, ['dev d1=5']);
  engine.close();
});

test('a failure on every message (a full disk refusing each append) logs one line per rule and action a minute, with the count', async () => {
  const { default: pino } = await import('pino');
  const { Registry } = await import('prom-client');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  let now = 0;
  let wall = Date.UTC(2026, 11, 7);
  const rec = new Recorder();
  const registry = createActionRegistry({ republish: republishAction(rec), stream: streamAction(rec) });
  const def: RuleSetDefinition = { version: 1, rules: [{ name: 'r', sql: "SELECT * FROM 'a'", enabled: true, actions: [{ stream: { name: 'out' } }] }] };
  const engine = createRuleEngine(compileRuleSet(def, registry), { logger, registry: new Registry(), now: () => wall, monotonic: () => now });
  rec.failStream = true;
  for (let i = 0; i < 100; i++) await engine.handle(msg('a', '{}'))?.catch(() => undefined);
  assert.equal(lines.filter((l) => l.msg === 'rule action failed').length, 1);
  // 5 s was the bound until round 32: 720 lines an hour per rule under a steady fault.
  now += 5000;
  await engine.handle(msg('a', '{}'))?.catch(() => undefined);
  assert.equal(lines.filter((l) => l.msg === 'rule action failed').length, 1, '5 s later: still one line');
  now += 55_000;
  await engine.handle(msg('a', '{}'))?.catch(() => undefined);
  const failed = lines.filter((l) => l.msg === 'rule action failed');
  assert.equal(failed.length, 2);
  assert.equal(failed[1]?.suppressed, 100);
  // The wall clock stepped back a year (NTP after a boot without RTC): a minute later the next line
  // still appears (on the wall clock, the rate limit muted it for the year).
  wall -= 365 * 86_400_000;
  now += 60_000;
  await engine.handle(msg('a', '{}'))?.catch(() => undefined);
  assert.equal(lines.filter((l) => l.msg === 'rule action failed').length, 3, 'a minute after a wall clock step back: the next line');
  engine.close();
});
