// A signed remote update cut by kill -9 at each store write it makes (the real CLI in a child
// process; a preloaded module SIGKILLs it just before or just after the write that holds a given
// meta key): after the restart the gateway runs the new set with the document's version used up,
// or the previous set with the version still free (the same signed document applies when sent
// again), never the previous set with the version used up. Before, the accepted version was
// stored alone ahead of the set: a kill between the two writes left the office a document no
// gateway would take and no status for it (it had to sign the set again with a new version).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { buildUpdateDocument } from '../../gateway/control/document.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { repoRoot, tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const ID = 'cut';
const TOPIC = { set: `gatehouse/${ID}/rules/set`, rollback: `gatehouse/${ID}/rules/rollback` };
const STATUS = `gatehouse/${ID}/rules/status`;
const ACCEPTED = 'control/accepted-version';
const ACTIVE = 'rules/active';

function ruleSet(version: number): Record<string, unknown> {
  return { version, rules: [{ name: `route_v${version}`, sql: "SELECT * FROM 'site/#'", actions: [{ republish: { topic: `out/v${version}` } }] }] };
}

function envelope(privateKeyPem: string, version: number, body: { ruleSet: Record<string, unknown> } | { rollbackTo: number }): string {
  const now = new Date();
  const bytes = buildUpdateDocument({ targets: [ID], version, issuedAt: now, expiresAt: new Date(now.getTime() + 3600_000), ...body });
  return makeEnvelope(bytes, signRuleSetBytes(bytes, privateKeyPem), 'ops');
}

/** Node arguments preloading a module that SIGKILLs the gateway `when` its `nth` store meta write holding `key` runs. */
async function cutArgs(dir: string, when: 'before' | 'after', key: string, nth: number): Promise<string[]> {
  const hook = join(dir, 'cut.mjs');
  const store = pathToFileURL(join(repoRoot, 'dist', 'gateway', 'store', 'local-streams.js')).href;
  await writeFile(
    hook,
    `import { LevelLocalStreams } from ${JSON.stringify(store)};
const putMetas = LevelLocalStreams.prototype.putMetas;
let seen = 0;
LevelLocalStreams.prototype.putMetas = async function (entries) {
  const cut = entries.some(([k]) => k === ${JSON.stringify(key)}) && ++seen === ${nth};
  if (cut && ${JSON.stringify(when)} === 'before') process.kill(process.pid, 'SIGKILL');
  await putMetas.call(this, entries);
  if (cut && ${JSON.stringify(when)} === 'after') process.kill(process.pid, 'SIGKILL');
};
`,
  );
  return ['--import', pathToFileURL(hook).href];
}

interface Office {
  gw: GatewayProcess;
  statuses: ControlStatus[];
  publish(payload: string, on: keyof typeof TOPIC): Promise<void>;
  next(want: (s: ControlStatus) => boolean, what: string): Promise<ControlStatus>;
}

async function office(t: TestContext, gw: GatewayProcess): Promise<Office> {
  const client = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0, clientId: 'office' });
  t.after(() => client.endAsync(true));
  const statuses: ControlStatus[] = [];
  let taken = 0;
  client.on('message', (topic, payload) => {
    if (topic === STATUS) statuses.push(JSON.parse(payload.toString()) as ControlStatus);
  });
  await client.subscribeAsync(STATUS, { qos: 1 });
  return {
    gw,
    statuses,
    publish: async (payload, on) => {
      await client.publishAsync(TOPIC[on], payload, { qos: 1 });
    },
    // The first status after the last one taken: not 'after this call', since the retained status
    // can arrive in the SUBACK's read, before the caller's next() runs (it then waited in vain).
    async next(want, what) {
      const from = taken;
      // 30 s: a loaded CI machine (two test files at once on two cores) starts a gateway slowly.
      const i = await waitUntil(
        () => {
          const at = statuses.findIndex((s, k) => k >= from && want(s));
          return at >= 0 ? at + 1 : undefined;
        },
        `status: ${what}`,
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; seen ${JSON.stringify(statuses.slice(from))}`);
      });
      taken = i;
      return statuses[i - 1]!;
    },
  };
}

interface Cut {
  when: 'before' | 'after';
  key: string;
  /** Which write holding `key` (the start stores the configured set: rules/active 1). */
  nth: number;
  /** The update cut: a signed rollback to version 1 (document version 3) after a set of version 2 was applied; else the set of version 2. */
  rollback?: boolean;
}

async function cutAndRestart(t: TestContext, cut: Cut): Promise<void> {
  const dir = await tempDir(t, 'gatehouse-cut-');
  const keys = generateSigningKeys();
  await writeFile(join(dir, 'ops.pub'), keys.publicKeyPem);
  const config = await writeConfig(
    dir,
    `gatewayId: ${ID}
dataDir: ${JSON.stringify(join(dir, 'data'))}
exporters: []
control:
  publicKeys: [${JSON.stringify(join(dir, 'ops.pub'))}]
  probation: { seconds: 600 }
rules: ${JSON.stringify(ruleSet(1))}
`,
  );
  // GATEHOUSE_BUNDLE=0: the cut patches tsc's store module, which the CLI then runs (its bundle has its own copy).
  const first = await startGatewayProcess(config, [], 20_000, await cutArgs(dir, cut.when, cut.key, cut.nth), { GATEHOUSE_BUNDLE: '0' });
  t.after(() => first.kill9());
  const exited = once(first.proc, 'exit');
  const o1 = await office(t, first);
  await o1.next((s) => s.activeVersion === 1, 'the start-up status');
  const v2 = envelope(keys.privateKeyPem, 2, { ruleSet: ruleSet(2) });
  const update = cut.rollback ? envelope(keys.privateKeyPem, 3, { rollbackTo: 1 }) : v2;
  if (cut.rollback) {
    const applied = o1.next((s) => s.version === 2, 'v2 applied');
    await o1.publish(v2, 'set');
    assert.equal((await applied).state, 'applied');
  }
  const on = cut.rollback ? 'rollback' : 'set';
  await o1.publish(update, on);
  const [code, signal] = (await withTimeout(exited, 15_000, 'the gateway is killed at the cut')) as [number | null, string | null];
  assert.deepEqual([code, signal], [null, 'SIGKILL'], 'killed by the preloaded cut');

  const restartedAt = Date.now();
  const second = await startGatewayProcess(config);
  t.after(() => second.stop());
  const o2 = await office(t, second);
  const back = await o2.next((s) => Date.parse(s.at) >= restartedAt - 1000 && s.gatewayId === ID, 'the start-up status after the kill');
  const updated = cut.rollback ? 3 : 2;
  const before = cut.rollback ? 2 : 1;
  const after = cut.rollback ? 1 : 2;
  const both = back.activeVersion === after && back.acceptedVersion === updated;
  const neither = back.activeVersion === before && back.acceptedVersion === updated - 1;
  assert.ok(
    both || neither,
    `after the kill, either version ${after} runs with document ${updated} used, or version ${before} runs with it free; got ${JSON.stringify(back)}`,
  );
  if (both && !cut.rollback) assert.equal(back.probation?.version, 2, 'the update is on probation again after the restart');
  // The office sends the same signed document again (no status for it came): applied if it had not
  // been, a replay if it had; the gateway ends up where the office wanted either way.
  const resent = o2.next((s) => s.source.startsWith('mqtt'), 'the outcome of the document sent again');
  await o2.publish(update, on);
  const s = await resent;
  if (neither) assert.equal(s.state, cut.rollback ? 'rolled-back' : 'applied', JSON.stringify(s));
  else assert.equal(s.code, 'GH_CONTROL_REPLAY', JSON.stringify(s));
  assert.equal(s.activeVersion, after, JSON.stringify(s));
  assert.equal(s.acceptedVersion, updated, JSON.stringify(s));
  t.diagnostic(`${cut.when} write ${cut.nth} of ${cut.key}: ${both ? 'both stored' : 'neither stored'}, the resent document ${s.state}`);
}

const CUTS: Cut[] = [
  { when: 'before', key: ACCEPTED, nth: 1 },
  { when: 'after', key: ACCEPTED, nth: 1 },
  { when: 'before', key: ACTIVE, nth: 2 },
  { when: 'after', key: ACTIVE, nth: 2 },
  { when: 'after', key: ACCEPTED, nth: 2, rollback: true },
  { when: 'before', key: ACTIVE, nth: 3, rollback: true },
];

for (const cut of CUTS) {
  test(`a signed ${cut.rollback ? 'rollback' : 'update'} killed ${cut.when} the store write of ${cut.key} (#${cut.nth}) is in the store whole or not at all`, (t) =>
    cutAndRestart(t, cut));
}
