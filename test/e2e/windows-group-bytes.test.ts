// ruleState.maxGroupBytes on the real gateway: a client publishing large payloads on many distinct
// topics to a rule grouped by topic() (each group keeps its last message for SELECT *). Before,
// maxGroups x broker.maxPayloadBytes was the only bound (10,000 x 256 KiB = 2.5 GiB per rule: the
// OOM killer on a Raspberry Pi, and the broker with it); now the groups hold at most the budget,
// the oldest are evicted and counted with reason="bytes", and the rule still emits the newest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir } from '../helpers/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const RULES = `version: 1
rules:
  - name: lastByDevice
    sql: SELECT topic(2) AS dev FROM 'big/+' GROUP BY topic(), TUMBLINGWINDOW(hh, 1)
    actions:
      - republish: { topic: 'out/last', qos: 0 }
`;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return Number(kb) * 1024;
}

const MiB = 1024 * 1024;
const TOPICS = 1200;
const PAYLOAD = 200 * 1024;

test(`${TOPICS} topics of ${PAYLOAD / 1024} KiB payloads to a rule grouped by topic(): RSS stays near maxGroupBytes (32 MiB), evictions counted`, {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'rules.yaml'), RULES);
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\nbroker: { maxPublishBytesPerSecPerClient: 0 }\nruleState: { maxGroupBytes: ${32 * MiB}, inputLog: false, checkpointIntervalMs: 0 }\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const pid = gw.proc.pid!;
  const pub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'flood', reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  // Warm up (JIT, pools) before the baseline.
  for (let i = 0; i < 20; i++) await pub.publishAsync(`big/warm${i}`, JSON.stringify({ i }), { qos: 1 });
  const before = await rssBytes(pid);
  const body = Buffer.from(JSON.stringify({ s: 'x'.repeat(PAYLOAD) }));
  let peak = before;
  for (let i = 0; i < TOPICS; i++) {
    await pub.publishAsync(`big/d${i}`, body, { qos: 1 });
    if (i % 100 === 99) peak = Math.max(peak, await rssBytes(pid));
  }
  const after = await rssBytes(pid);
  peak = Math.max(peak, after);
  // A PUBACK comes once the rules handled the publish: the evictions are counted by now.
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const evicted = Number(/gatehouse_window_evicted_groups_total\{rule="lastByDevice",reason="bytes"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  const heap = Number(/^gatehouse_nodejs_heap_size_used_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
  const external = Number(/^gatehouse_nodejs_external_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
  const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
  t.diagnostic(`RSS before ${mib(before)}, peak ${mib(peak)}, after ${mib(after)}; heap used ${mib(heap)}, external ${mib(external)}; evicted ${evicted}`);
  // ~160 groups of 200 KiB fit in 32 MiB; the rest (and the warm-up groups) were evicted.
  assert.ok(evicted >= TOPICS - 170 && evicted <= TOPICS, `evicted ${evicted}`);
  // Before: the 1,200 groups kept 240 MB (RSS +250 MB and more); now the budget plus garbage not yet collected.
  assert.ok(after - before < 120 * MiB, `RSS grew by ${((after - before) / MiB).toFixed(0)} MiB`);
  const warned = gw.logs.filter((l) => String(l.msg).includes('ruleState.maxGroupBytes'));
  assert.ok(warned.length >= 1 && warned.length <= 2, `warnings: ${warned.length}`);
  assert.equal(warned[0]!.rule, 'lastByDevice');
});
