// At start the stored active rule set wins over the config's unless the config carries a higher
// version (docs/remote-control.md). A config whose rules were edited without raising the version
// therefore changes nothing: the start says so in a warning, instead of silently running the old
// rules (found by editing a config's rules and restarting).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleHost } from '../../gateway/pipeline/rule-host.js';
import type { Action, ActionFactory } from '../../rules/index.js';
import { createActionRegistry } from '../helpers/action-registry.js';
import { MemoryStreams } from '../helpers/memory-streams.js';

const ok: ActionFactory = (): Action => ({ kind: 'ok', resource: 'ok', durable: false, execute() {} });
const actions = createActionRegistry({ ok });
const set = (version: number, ...names: string[]) => ({
  version,
  rules: names.map((n) => ({ name: n, sql: `SELECT * FROM 'in/${n}'`, actions: [{ ok: {} }] })),
});

/** A gateway start on `streams` (kept across starts) with `configured` as the config's rule set; its warnings. */
async function start(streams: MemoryStreams, configured: unknown, infos: string[] = []): Promise<{ rules: RuleHost; warnings: string[] }> {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as { level: number; msg: string };
        if (o.level === 40) warnings.push(o.msg);
        if (o.level === 30) infos.push(o.msg);
      }
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const rules = new RuleHost({ logger, registry: new Registry(), streams, actions, ruleState: { inputLog: false, checkpointIntervalMs: 0 } });
  await rules.loadInitial(configured, false);
  return { rules, warnings };
}

test("a config's rule set edited without a higher version: the stored set runs and the start warns", async () => {
  const streams = new MemoryStreams();
  const first = await start(streams, set(1, 'a'));
  assert.deepEqual(first.warnings, []);
  await first.rules.stop();
  // The same set again: nothing to say.
  const same = await start(streams, set(1, 'a'));
  assert.deepEqual(same.warnings, []);
  await same.rules.stop();
  // Edited, same version: the stored set (rule a only) still runs, and the log says why.
  const edited = await start(streams, set(1, 'a', 'b'));
  assert.deepEqual(
    edited.rules.activeDefinition()?.rules.map((r) => r.name),
    ['a'],
  );
  assert.equal(edited.warnings.length, 1);
  assert.match(
    edited.warnings[0]!,
    /rule set \(version 1\) is not the one running: the stored active set \(version 1, from config\) wins .* raise version to 2/,
  );
  await edited.rules.stop();
  // A higher version applies.
  const raised = await start(streams, set(2, 'a', 'b'));
  assert.deepEqual(raised.warnings, []);
  assert.deepEqual(
    raised.rules.activeDefinition()?.rules.map((r) => r.name),
    ['a', 'b'],
  );
  await raised.rules.stop();
});

test('a rule a job disabled: the restart says which rule the job toggled (info), not that the config should raise its version (which would undo the job)', async () => {
  const streams = new MemoryStreams();
  const infos: string[] = [];
  const first = await start(streams, set(1, 'a', 'b'));
  const toggled = await first.rules.setRuleEnabled('b', false, 'job:night-off');
  assert.equal(toggled.state, 'applied');
  await first.rules.stop();
  const again = await start(streams, set(1, 'a', 'b'), infos);
  assert.deepEqual(again.warnings, [], 'no advice to raise the version');
  assert.equal(again.rules.activeDefinition()?.rules.find((r) => r.name === 'b')?.enabled, false, "the job's toggle holds");
  assert.ok(
    infos.some((m) => /rule b disabled by job:night-off/.test(m)),
    `an info line names the toggle: ${JSON.stringify(infos)}`,
  );
  await again.rules.stop();
  // The config's rules edited as well: the warning is back (the edit is not running).
  const edited = await start(streams, set(1, 'a', 'b', 'c'));
  assert.equal(edited.warnings.length, 1);
  assert.match(edited.warnings[0]!, /raise version to 2/);
  await edited.rules.stop();
});
