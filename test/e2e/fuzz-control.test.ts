// Fuzz the remote control channel (gateway/control/: signing.ts's envelope, document.ts's update
// document, verify.ts's policy, the rule set behind them) through real MQTT publishes on the control
// topics of a running gateway (in-process), for a bounded time with a deterministic, printed seed
// (FUZZ_SEED, FUZZ_MS override). A key pair and a signed update are made by the real CLI
// (`gatehouse rules keygen`, `gatehouse rules sign`); then each case publishes on rules/set or
// rules/rollback: the envelope's bytes mutated, the envelope mutated as JSON, the update document
// mutated as JSON and signed again with the CLI's signing function (so the document parser and the
// binding checks behind the signature are reached, not only the signature check), or unsigned
// documents (refused: the gateway has keys).
//
// Meanwhile a real device publishes QoS 1. Asserts: no crash (the test process is the gateway),
// every rule status the gateway publishes is JSON with a catalogue code when it refuses, nothing
// logged as an error, no hang (a signed update made by the CLI is still applied at the end, and a
// fresh client gets its PUBACK), every PUBACKed device message in the store but those
// acknowledged while a fuzzed rule set that was applied may have left the witness rule out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { makeEnvelope, signRuleSetBytes } from '../../gateway/control/signing.js';
import { ERROR_CATALOGUE } from '../../core/error-catalogue.js';
import { repoRoot, tempDir, waitUntil, withTimeout } from '../helpers/index.js';
import { capturingLogger, fuzzer, fuzzSettings, startWitness, storedWitnessIds } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 3000);
const f = fuzzer(SEED);
const { rnd, pick } = f;
const CLI = join(repoRoot, 'bin', 'gatehouse.js');
const WITNESS = { name: 'witness', sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: 'archive' } }] };

test('fuzz control: mutated and re-signed update documents on the control topics; no crash, catalogue codes, no hang, no loss', {
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz-control seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const dir = await tempDir(t, 'gatehouse-fuzz-control-');
  const cli = (...args: string[]): string => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });
  cli('rules', 'keygen', '--out', join(dir, 'office'));
  const privateKey = readFileSync(join(dir, 'office.key'), 'utf8');
  let version = 1;
  /** A rule set with the witness rule, signed by the real CLI. */
  const cliSigned = async (rules: unknown[]): Promise<string> => {
    const file = join(dir, `rules-${++version}.json`);
    await writeFile(file, JSON.stringify({ version, rules }));
    return cli('rules', 'sign', file, '--key', join(dir, 'office.key'), '--targets', 'fzc', '--version', String(version)).trim();
  };
  const base = await cliSigned([WITNESS, { name: 'f', sql: "SELECT * FROM 'fz/#'", actions: [{ stream: { name: 'archive' } }] }]);
  const baseDoc = JSON.parse(Buffer.from((JSON.parse(base) as { ruleSet: string }).ruleSet, 'base64').toString('utf8')) as Record<string, unknown>;

  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: fzc\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n` +
      `control: { publicKeys: [${JSON.stringify(join(dir, 'office.pub'))}], groups: [g] }\n` +
      `rules: { version: 1, rules: [{ name: witness, sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const { logger, lines } = capturingLogger();
  const gw = await startGateway(config, { logger, registry: createMetricsRegistry('test', 'fzc'), version: 'test' });
  t.after(() => gw.stop());
  const url = `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;

  const statuses: Array<Record<string, unknown>> = [];
  const unexpected: string[] = [];
  const codes = new Set(Object.keys(ERROR_CATALOGUE));
  const office = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'office' });
  t.after(() => office.endAsync(true));
  office.on('message', (_topic, payload) => {
    try {
      const s = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      statuses.push(s);
      if (s.state === 'rejected' && (typeof s.code !== 'string' || !codes.has(s.code)))
        unexpected.push(`status without a catalogue code: ${payload.toString().slice(0, 300)}`);
    } catch {
      unexpected.push(`a status that is not JSON: ${payload.toString('latin1').slice(0, 200)}`);
    }
  });
  await office.subscribeAsync('gatehouse/fzc/rules/status', { qos: 1 });

  const witness = await startWitness(t, url);

  /** One fuzzed payload and the topic it goes to. */
  const fuzzCase = (): [string, Buffer] => {
    const topic = rnd() < 0.85 ? 'gatehouse/fzc/rules/set' : 'gatehouse/fzc/rules/rollback';
    const r = rnd();
    if (r < 0.25) return [topic, f.mutate(Buffer.from(base))];
    if (r < 0.45) return [topic, Buffer.from(JSON.stringify(f.mutateValue(JSON.parse(base))) ?? '')];
    if (r < 0.9) {
      // the document changed, then signed again: what passes the signature reaches the parser
      const doc = f.mutateValue({
        ...baseDoc,
        version: ++version,
        ...(rnd() < 0.2 ? { ruleSet: undefined, rollback: { toVersion: pick([1, 2, version - 1, -1]) } } : {}),
        ...(rnd() < 0.1 ? { targets: pick([['*'], ['g'], ['other'], []]) } : {}),
        ...(rnd() < 0.1 ? { expiresAt: pick(['2000-01-01T00:00:00Z', 'tomorrow', '2999-01-01T00:00:00Z']) } : {}),
      });
      const bytes = rnd() < 0.9 ? Buffer.from(JSON.stringify(doc) ?? 'null') : f.mutate(Buffer.from(JSON.stringify(doc) ?? 'null'));
      return [topic, Buffer.from(makeEnvelope(bytes, signRuleSetBytes(bytes, privateKey), rnd() < 0.3 ? 'office' : undefined))];
    }
    // unsigned: a bare rule set or document (refused: the gateway has keys)
    return [topic, Buffer.from(JSON.stringify({ version: ++version, rules: [WITNESS] }))];
  };

  const excused: Array<[number, number]> = [];
  let cases = 0;
  const deadline = Date.now() + DURATION_MS;
  while (Date.now() < deadline && unexpected.length === 0) {
    const fromId = witness.acked.length;
    const seen = statuses.length;
    const batch = Array.from({ length: 4 }, fuzzCase);
    for (const [topic, payload] of batch) await office.publishAsync(topic, payload, { qos: 1 });
    cases += batch.length;
    // each attempt is answered on the status topic (a refusal or an outcome): wait for them, bounded
    await waitUntil(() => statuses.length >= seen + batch.length, `the statuses of ${batch.length} control publishes`, 10_000, 10).catch(() => undefined);
    const fresh = statuses.slice(seen);
    if (fresh.some((s) => s.state !== 'rejected')) {
      // a fuzzed update or rollback was applied: the witness rule may be gone. A signed update made
      // by the CLI puts it back; the ids acknowledged meanwhile are excused.
      const restore = await cliSigned([WITNESS]);
      const n = statuses.length;
      await office.publishAsync('gatehouse/fzc/rules/set', restore, { qos: 1 });
      await waitUntil(() => statuses.slice(n).some((s) => s.state === 'applied' && s.version === version), 'the witness rule set back', 10_000, 10);
      excused.push([fromId, witness.acked.length + 1]);
    }
    const errors = lines.filter((l) => Number(l.level) >= 50);
    if (errors.length > 0) unexpected.push(`logged as an error: ${JSON.stringify(errors[0]).slice(0, 500)}`);
  }
  await witness.stop();
  const byState = new Map<string, number>();
  for (const s of statuses)
    byState.set(`${String(s.state)} ${String(s.code ?? '')}`.trim(), (byState.get(`${String(s.state)} ${String(s.code ?? '')}`.trim()) ?? 0) + 1);
  console.log(
    `# fuzz-control cases: ${cases}; statuses ${JSON.stringify(Object.fromEntries(byState))}; device PUBACKed ${witness.acked.length}; excused windows ${excused.length}`,
  );
  assert.deepEqual(unexpected.slice(0, 3), [], 'statuses with catalogue codes, nothing logged as an error');

  // No hang: a signed update made by the CLI is applied, a fresh client gets its PUBACK.
  const last = await cliSigned([WITNESS]);
  const n = statuses.length;
  await office.publishAsync('gatehouse/fzc/rules/set', last, { qos: 1 });
  await waitUntil(() => statuses.slice(n).some((s) => s.state === 'applied' && s.version === version), 'a signed update applied after the fuzz', 10_000, 10);
  const fresh = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'after', connectTimeout: 5000 });
  t.after(() => fresh.endAsync(true));
  await withTimeout(fresh.publishAsync('witness/after', '{"id":-1}', { qos: 1 }), 5000, 'a PUBACK after the fuzz');

  const stored = await storedWitnessIds(gw.streams);
  const missing = witness.acked.filter((id) => !stored.has(id) && !excused.some(([a, b]) => id >= a && id < b));
  assert.equal(missing.length, 0, `PUBACKed but not stored: ${missing.slice(0, 10).join(', ')}`);
  assert.ok(witness.acked.length > 0);
  assert.ok(
    statuses.some((s) => s.state === 'rejected'),
    'some fuzzed documents were refused',
  );
});
