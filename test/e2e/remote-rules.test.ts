// No message lost or evaluated twice across rule set swaps under load: a real mqtt.js client
// publishes QoS 1 continuously to a topic archived by the old and by each new set while remote
// updates arrive on the control topic of a real in-process gateway; every acknowledged message
// must be in the stream exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import type { ControlStatus } from '../../gateway/control/remote.js';
import { tempDir, testDeps } from '../helpers/index.js';

const ID = 'swap';
const SWAPS = 4;
const IN_FLIGHT = 32;

function ruleSet(version: number): string {
  // Each version archives load/# under another rule name (a new rule, not the old one kept).
  return JSON.stringify({ version, rules: [{ name: `archive_v${version}`, sql: "SELECT * FROM 'load/#'", actions: [{ stream: { name: 'archive' } }] }] });
}

test('no message lost or duplicated across remote swaps under QoS 1 load', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(
    file,
    `gatewayId: ${ID}\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\ncontrol: { allowUnsigned: true }\nrules: ${ruleSet(1)}\n`,
  );
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: testDeps().logger, registry: createMetricsRegistry('test', ID), version: 'test' });
  t.after(() => gw.stop());
  const url = `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;

  const load = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'load' });
  const ops = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'ops' });
  t.after(() => load.endAsync(true));
  t.after(() => ops.endAsync(true));

  const acked = new Set<number>();
  let next = 0;
  let stop = false;
  const failures: unknown[] = [];
  // IN_FLIGHT concurrent publishers chains, each awaiting its PUBACK before the next publish.
  const worker = async (): Promise<void> => {
    while (!stop) {
      const seq = next++;
      try {
        await load.publishAsync(`load/dev${seq % 7}`, `{"seq":${seq}}`, { qos: 1 });
        acked.add(seq);
      } catch (err) {
        failures.push(err);
        return;
      }
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, () => worker());

  const applied: number[] = [];
  for (let v = 2; v <= SWAPS + 1; v++) {
    // Let some load through between swaps (by acks, not by time).
    const target = acked.size + 300;
    while (acked.size < target && !failures.length) await new Promise((r) => setImmediate(r));
    const status = new Promise<ControlStatus>((resolve) => gw.control.remote!.once('status', resolve));
    await ops.publishAsync(`gatehouse/${ID}/rules/set`, ruleSet(v), { qos: 1 });
    const s = await status;
    assert.equal(s.state, 'applied', JSON.stringify(s.errors));
    applied.push(s.version!);
  }
  const target = acked.size + 300;
  while (acked.size < target && !failures.length) await new Promise((r) => setImmediate(r));
  stop = true;
  await Promise.all(workers);
  assert.deepEqual(failures, []);
  assert.deepEqual(applied, [2, 3, 4, 5]);
  assert.equal(gw.rules.activeDefinition()?.version, SWAPS + 1);

  const seen = new Map<number, number>();
  for (let from = 1; ; ) {
    const batch = await gw.streams.read('archive', from, { limit: 1000 });
    if (!batch.length) break;
    for (const r of batch) {
      if (!r.topic.startsWith('load/')) continue;
      const seq = (JSON.parse(r.payload.toString()) as { seq: number }).seq;
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
    }
    from = batch[batch.length - 1]!.seq + 1;
  }
  const missing = [...acked].filter((s) => !seen.has(s));
  const twice = [...seen].filter(([, n]) => n > 1).map(([s]) => s);
  assert.deepEqual(missing, [], `${missing.length} acknowledged messages missing from the stream`);
  assert.deepEqual(twice, [], `${twice.length} messages archived more than once`);
  assert.ok(acked.size >= 1500, `load ran (${acked.size} acked)`);
  t.diagnostic(`${acked.size} messages acknowledged across ${SWAPS} swaps, each archived exactly once`);
});
