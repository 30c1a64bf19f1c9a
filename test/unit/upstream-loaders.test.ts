// Destination kinds loaded when used (upstream/loaders.ts, issue 15): the loaders list the same kinds
// as the static registry (one list in effect: this test fails when they drift), the lazy set loads a
// kind once and only when asked, and the rule host loads the kinds a rule set's upstream actions name
// before compiling it (at start, updates, toggles, rollbacks, and the state sweep of the last good set).
// Real store (LevelDB), real rule host and upstream actions; the kinds' modules are the real ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { destinationFactories, destinationSchemas } from '../../gateway/upstream/registry.js';
import { DESTINATION_TYPES, type DestinationType } from '../../gateway/upstream/options.js';
import { DESTINATION_LOADERS, lazyDestinationKinds, type LoadedDestinationKind } from '../../gateway/upstream/loaders.js';
import { destinationFrom } from '../../gateway/upstream/destination-kind.js';
import { upstreamActionFactories, upstreamKindsOf } from '../../gateway/pipeline/actions/upstream.js';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { compileRuleSet } from '../../rules/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { tempDir, testDeps } from '../helpers/index.js';
import { capturingLogger } from '../helpers/fuzz.js';

test("every destination type has a loader, whose schema is the static registry's and whose factory validates as its does", async () => {
  assert.deepEqual(Object.keys(DESTINATION_LOADERS).sort(), [...DESTINATION_TYPES].sort(), 'one loader per destination type');
  assert.deepEqual(Object.keys(destinationSchemas).sort(), [...DESTINATION_TYPES].sort(), 'one registry schema per destination type');
  for (const type of DESTINATION_TYPES) {
    const k = await DESTINATION_LOADERS[type]();
    assert.equal(k.schema, destinationSchemas[type], `${type}: the loader's schema is the registry's`);
    // The same refusal, word for word, for an option no kind has.
    const bad = { type, noSuchOption: 1 };
    const refusal = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        assert.ok(isGatehouseError(err, 'GH_DESTINATION_CONFIG'), `${type}: ${String(err)}`);
        return err.message;
      }
      return 'accepted';
    };
    const registry = destinationFactories[type];
    assert.ok(registry, `${type} is in the registry`);
    assert.equal(
      refusal(() => k.factory(bad, testDeps())),
      refusal(() => registry(bad, testDeps())),
      `${type}: the loaded factory refuses as the registry's does`,
    );
  }
});

test('the lazy kinds hold nothing until loaded, load each kind once (concurrent loads share it), ignore unknown types, and retry a failed load', async () => {
  const calls: Partial<Record<string, number>> = {};
  let failNext = true;
  const counted =
    (type: DestinationType): (() => Promise<LoadedDestinationKind>) =>
    async () => {
      calls[type] = (calls[type] ?? 0) + 1;
      if (type === 'nats' && failNext) {
        failNext = false;
        throw new Error('import failed');
      }
      return DESTINATION_LOADERS[type]();
    };
  const kinds = lazyDestinationKinds({ file: counted('file'), kinesis: counted('kinesis'), nats: counted('nats') });
  assert.deepEqual(Object.keys(kinds.factories), [], 'nothing loaded at first');
  assert.equal(kinds.schemaOf('kinesis'), undefined);
  await Promise.all([kinds.load(['kinesis', 'kinesis']), kinds.load(['kinesis', 'no-such-kind', 'webhook'])]);
  assert.deepEqual({ ...calls }, { kinesis: 1 } as Partial<Record<string, number>>, 'kinesis imported once; a type without a loader is left');
  assert.equal(kinds.schemaOf('kinesis'), destinationSchemas.kinesis);
  assert.deepEqual(Object.keys(kinds.factories), ['kinesis']);
  await assert.rejects(kinds.load(['nats']), /import failed/);
  assert.equal(kinds.schemaOf('nats'), undefined, 'a failed load leaves the kind out');
  await kinds.load(['nats']);
  assert.equal(calls.nats, 2, 'tried again at the next use');
  assert.equal(kinds.schemaOf('nats'), destinationSchemas.nats);
  // A type not loaded is refused by the build, by name.
  assert.throws(() => destinationFrom({ type: 'file' }, testDeps(), kinds.factories), /type 'file' is not available/);
});

test('upstreamKindsOf names the upstream kinds of actions and error actions, and skips whatever is malformed', () => {
  const def = {
    version: 1,
    rules: [
      {
        name: 'a',
        sql: "SELECT * FROM 'a'",
        actions: [{ kinesis: { streamName: 's' } }, { stream: { name: 'x' } }, null, 'junk'],
        errorAction: { webhook: { url: 'http://h/' } },
      },
      { name: 'b', sql: "SELECT * FROM 'b'", actions: { nats: {} } },
      null,
      { name: 'c', actions: [{ s3: { bucket: 'b' }, republish: { topic: 't' } }] },
    ],
  };
  assert.deepEqual([...upstreamKindsOf(def)].sort(), ['kinesis', 's3', 'webhook']);
  for (const junk of [undefined, null, 3, 'rules', { rules: 'x' }, { rules: [1, [2]] }]) assert.deepEqual([...upstreamKindsOf(junk)], []);
});

const kinesisSet = (version: number) => ({
  version,
  rules: [{ name: 'up', sql: "SELECT * FROM 'up/#'", actions: [{ kinesis: { streamName: 'fleet', region: 'eu-west-1' } }] }],
});
const plainSet = (version: number) => ({
  version,
  rules: [{ name: 'win', sql: "SELECT count(*) AS n FROM 'in/+' GROUP BY TUMBLINGWINDOW(hh, 1)", actions: [{ stream: { name: 'archive' } }] }],
});

test('an upstream action whose kind was not loaded is refused with what went wrong, not taken without its checks', () => {
  const kinds = lazyDestinationKinds();
  const actions = new Map(upstreamActionFactories({ ...testDeps(), dataDir: '.', destinations: kinds }));
  assert.throws(
    () => compileRuleSet(kinesisSet(1), actions),
    /GH_ACTION_FAILED: action 'kinesis' of rule 'up' failed: the kinesis destination was not loaded before the rule set was compiled/,
  );
});

test('the rule host loads the kinds a rule set names before compiling it: start, updates, bad options refused as before, the last good set swept', async (t) => {
  const dir = await tempDir(t, 'gatehouse-upstream-loaders-');
  const streams = await openLocalStreams({ path: join(dir, 'db'), durability: 'os' }, testDeps());
  t.after(() => streams.close());
  await streams.defineStream({ name: 'archive', maxBytes: 1 << 20, onFull: 'reject' });
  const host = (kinds = lazyDestinationKinds()) => {
    const log = capturingLogger('warn');
    const actions = new Map(upstreamActionFactories({ ...testDeps(), dataDir: dir, destinations: kinds }));
    actions.set('stream', () => ({ kind: 'stream', resource: 'archive', durable: true, execute() {} }));
    const rules = new RuleHost({
      ...testDeps(),
      logger: log.logger,
      streams,
      actions,
      destinations: kinds,
      ruleState: { inputLog: false, checkpointIntervalMs: 0 },
    });
    t.after(() => rules.stop());
    return { rules, kinds, log };
  };

  const first = host();
  await first.rules.loadInitial(kinesisSet(1), false);
  assert.equal(first.rules.activeDefinition()?.version, 1, 'a set with a kinesis action compiles at start');
  assert.equal(first.kinds.schemaOf('kinesis'), destinationSchemas.kinesis, 'kinesis loaded by it');
  assert.equal(first.kinds.schemaOf('webhook'), undefined, 'no other kind');
  // The destination's checks still apply to a kind loaded on use.
  const refused = await first.rules.apply(
    { version: 2, rules: [{ name: 'w', sql: "SELECT * FROM 'w'", actions: [{ webhook: { url: 'ftp://nope/', bogus: 1 } }] }] },
    { source: 'admin' },
  );
  assert.equal(refused.state, 'rejected');
  assert.match(JSON.stringify(refused.errors), /webhook\.bogus/, 'the unknown option named at its place');
  assert.equal(first.kinds.schemaOf('webhook'), destinationSchemas.webhook, 'webhook loaded to check it');
  assert.equal((await first.rules.apply(plainSet(3), { source: 'admin' })).state, 'applied');
  assert.equal(first.rules.lastGoodDefinition()?.version, 1, 'the kinesis set is the last good set');
  await first.rules.stop();

  // A new start over the same store: the active set names no upstream kind, the last good set
  // does. A toggle's state sweep compiles both: kinesis is loaded for it, the sweep is not skipped.
  const second = host();
  await second.rules.loadInitial(plainSet(3), false);
  assert.equal(second.kinds.schemaOf('kinesis'), undefined, 'nothing loaded for the active set');
  assert.equal((await second.rules.setRuleEnabled('win', false, 'job')).state, 'applied');
  assert.equal(second.kinds.schemaOf('kinesis'), destinationSchemas.kinesis, 'kinesis loaded for the sweep of the last good set');
  assert.deepEqual(
    second.log.lines.filter((l) => /rule state .*not deleted/.test(String(l.msg))),
    [],
    'the sweep ran (a set that does not compile makes it skip with a warning)',
  );
  // And a rollback to it compiles.
  assert.equal((await second.rules.rollback('admin')).state, 'rolled-back');
  assert.equal(second.rules.activeDefinition()?.version, 1);
});
