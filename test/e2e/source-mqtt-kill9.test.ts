// An MQTT source across kill -9 (the real gateway process, Debian's mosquitto as the remote
// broker): commands published upstream while the gateway subscribes, crashes and restarts all
// reach the local stream. A PUBACK sent before the commit would lose the messages acknowledged in
// the last commit window before the crash; the source acknowledges after it, and mosquitto
// redelivers the rest in the persistent session. Duplicates are allowed (at least once) and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { needBinary, tempDir, waitUntil } from '../helpers/index.js';
import { startMosquitto } from '../helpers/peers.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const skip = needBinary('mosquitto', 'mosquitto');
const TOTAL = 3000;

async function recordCount(gw: GatewayProcess): Promise<number> {
  const body = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
  return body.streams.find((s) => s.name === 'down')?.records ?? 0;
}

async function payloads(gw: GatewayProcess): Promise<string[]> {
  const out: string[] = [];
  let from = 1;
  for (;;) {
    const page = (await (await fetch(`${gw.adminUrl}/api/streams/down/records?from=${from}&limit=1000`)).json()) as {
      records: Array<{ payload: string; topic: string }>;
      next: number;
    };
    if (page.records.length === 0) return out;
    out.push(...page.records.map((r) => r.payload));
    from = page.next;
  }
}

test('mqtt source: every command published upstream reaches the stream across two kill -9 of the gateway', { skip, timeout: 120_000 }, async (t) => {
  const peer = await startMosquitto(t);
  const dir = await tempDir(t);
  const file = await writeConfig(
    dir,
    `dataDir: ${join(dir, 'data')}
exporters: []
streams:
  down: { maxBytes: 67108864, localOnly: true }
rules:
  version: 1
  rules:
    - name: commands
      sql: "SELECT * FROM 'downlink/#'"
      actions: [{ stream: { name: down } }]
sources:
  - type: mqtt
    name: cloud
    url: ${peer.url}
    clientId: gw-e2e-kill9
    reconnectMinMs: 50
    reconnectMaxMs: 500
    topics: [{ filter: 'cloud/#', stripPrefix: 'cloud/', localPrefix: 'downlink/' }]
`,
  );
  let gw = await startGatewayProcess(file);
  t.after(() => gw.stop());
  await waitUntil(async () => {
    const s = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as { sources: Array<{ name: string; state: string }> };
    return s.sources.find((x) => x.name === 'cloud')?.state === 'connected';
  }, 'the MQTT source connected');
  const office = await mqtt.connectAsync(peer.url, { clientId: 'office-e2e', reconnectPeriod: 0 });
  t.after(() => office.endAsync(true));
  // Paced at ~1,000 commands/s, so the crashes come while commands flow (a PUBACK sent before its
  // commit would be lost with the commit window the crash cuts short).
  const published = (async () => {
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < TOTAL; i++) {
      acks.push(office.publishAsync(`cloud/cmd/${i % 7}`, `{"id":${i}}`, { qos: 1 }));
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(acks);
  })();
  // Two crashes, each once 300 more commands are committed.
  for (const target of [300, 900]) {
    await waitUntil(async () => (await recordCount(gw)) >= target, `${target} commands committed before a crash`, 30_000, 10);
    await gw.kill9();
    gw = await startGatewayProcess(file);
  }
  await published;
  const seen = await waitUntil(
    async () => {
      if ((await recordCount(gw)) < TOTAL) return undefined;
      const ids = new Set((await payloads(gw)).map((p) => (JSON.parse(p) as { id: number }).id));
      return ids.size === TOTAL ? ids : undefined;
    },
    `all ${TOTAL} commands in the stream after the restarts`,
    60_000,
    100,
  );
  assert.equal(seen.size, TOTAL);
  const all = await payloads(gw);
  t.diagnostic(`${all.length} records for ${TOTAL} commands: ${all.length - TOTAL} duplicates (at least once)`);
});
