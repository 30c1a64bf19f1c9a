// Cost of crash-safe window state (issue 18): the real gateway (fsync, no exporter) under the same
// load generator as test/bench/gateway.ts (10 publishers, 200-byte JSON, QoS 1, 64 in flight
// each), with
//   archive            the default rule alone (SELECT * FROM '#' -> archive): no stateful rule
//   archive+window     plus a windowed rule on every message (TUMBLINGWINDOW(ss, 10) -> stream):
//                      its inputs go to the input log `$rule-inputs` in the acknowledging commit
//   archive+window-nolog   the same with `ruleState.inputLog: false` (state as of the last
//                      checkpoint after a crash: the behaviour before issue 18)
// Reported: QoS 1 msgs/s (PUBACKed) and bytes the gateway process wrote to disk per message
// (/proc/self/io write_bytes over the run: LevelDB log + tables, compactions included).
// Run: node --import tsx test/bench/window-state.ts [seconds per run, default 5]
// Noisy on a shared 2-core machine; nothing is asserted.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { runMqttFleet } from '../../gateway/simulate/mqtt-fleet.js';

type Variant = 'archive' | 'archive+window' | 'archive+window-nolog';
const VARIANTS: Variant[] = ['archive', 'archive+window', 'archive+window-nolog'];
type ToParent = { port: number } | { writeBytes: number };

const ARCHIVE = { name: 'archive_all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] };
const WINDOW = {
  name: 'per_device_10s',
  sql: "SELECT topic(2) AS d, count(*) AS n, max(seq) AS last FROM 'fleet/+/engine' GROUP BY topic(2), TUMBLINGWINDOW(ss, 10)",
  actions: [{ stream: { name: 'rollups' } }],
};

async function writeBytes(): Promise<number> {
  const io = await readFile('/proc/self/io', 'utf8');
  return Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? 0);
}

async function serve(variant: Variant): Promise<void> {
  const { loadConfig } = await import('../../gateway/config/index.js');
  const { startGateway } = await import('../../gateway/runtime/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-ws-'));
  const file = join(dir, 'gatehouse.json');
  const windowed = variant !== 'archive';
  await writeFile(
    file,
    JSON.stringify({
      exporters: [],
      streams: { archive: { maxBytes: 4 * 1024 ** 3 }, rollups: { maxBytes: 64 * 1024 ** 2 } },
      rules: { version: 1, rules: windowed ? [ARCHIVE, WINDOW] : [ARCHIVE] },
      ruleState: { inputLog: variant !== 'archive+window-nolog' },
    }),
  );
  const config = await loadConfig(file, { dataDir: join(dir, 'data'), mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: pino({ level: 'warn' }), registry: new Registry(), version: 'bench' });
  process.send!({ port: gw.broker.addresses()[0]!.port } satisfies ToParent);
  process.on('message', (m: string) => {
    if (m === 'io') void writeBytes().then((n) => process.send!({ writeBytes: n } satisfies ToParent));
    if (m === 'exit')
      void gw
        .stop()
        .then(() => rm(dir, { recursive: true, force: true }))
        .finally(() => process.exit(0));
  });
}

async function ask<T extends ToParent>(child: ChildProcess, msg?: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  if (msg) child.send(msg);
  return (await reply)[0];
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const variants = (process.env.BENCH_VARIANTS?.split(',') as Variant[] | undefined) ?? VARIANTS;
  const rows: Array<{ variant: Variant; msgsPerSec: number; bytesPerMsg: number; p99: number }> = [];
  for (const variant of variants) {
    const child = fork(fileURLToPath(import.meta.url), ['serve', variant], { execArgv: [...process.execArgv, '--max-semi-space-size=8'] });
    const { port } = await ask<{ port: number }>(child);
    const common = { url: `mqtt://127.0.0.1:${port}`, devices: 10, payloadBytes: 200, qos: 1 as const };
    if (process.env.BENCH_DEBUG) console.error(variant, 'warm-up');
    await runMqttFleet({ ...common, ratePerDevice: 500, durationMs: 1000, prefix: `v${variants.indexOf(variant)}-warm` });
    if (process.env.BENCH_DEBUG) console.error(variant, 'run');
    const w0 = (await ask<{ writeBytes: number }>(child, 'io')).writeBytes;
    const r = await runMqttFleet({ ...common, ratePerDevice: 0, durationMs: seconds * 1000, prefix: `v${variants.indexOf(variant)}-max` });
    const w1 = (await ask<{ writeBytes: number }>(child, 'io')).writeBytes;
    rows.push({ variant, msgsPerSec: r.msgsPerSec, bytesPerMsg: r.acked ? (w1 - w0) / r.acked : 0, p99: r.latencyMs.p99 });
    child.send('exit');
    await once(child, 'exit');
  }
  console.log(`window-state bench: 10 publishers, 200-byte JSON, QoS 1 max rate, ${seconds} s, fsync, no exporter. Shared 2-core machine: noisy.`);
  console.log('| rules | QoS 1 msgs/s | disk bytes written per msg | PUBACK p99 ms |');
  console.log('|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.variant} | ${Math.round(r.msgsPerSec).toLocaleString('en-US')} | ${Math.round(r.bytesPerMsg)} | ${r.p99.toFixed(1)} |`);
  console.log(`BENCH_JSON ${JSON.stringify({ bench: 'window-state', rows })}`);
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Variant);
else await main();
