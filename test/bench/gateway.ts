// Gateway benchmark (issue 2): the same load generator (runMqttFleet: 10 publishers, 200-byte
// JSON, QoS 0 and QoS 1, 64 in flight each) against
//   bare      aedes in memory (no persistence, no subscriber): the ceiling
//   gateway   the real gateway, startGateway(loadConfig()) with the default config: the archive
//             rule SELECT * FROM '#' -> stream 'archive', store durability fsync, the default
//             file exporter writing NDJSON under <dataDir>/export, admin API on (port 0)
//   gateway-noexport   the same with `exporters: []` (ingest path alone)
// Each broker runs in its own child process (its RSS is its own; the load generator does not
// share its event loop). Per broker: a steady 5,000 msgs/s QoS 1 run (peak RSS during it), then
// as-fast-as-possible runs at QoS 0 and QoS 1 (msgs/s, PUBACK p50/p99, peak RSS).
//
// Run: node --import tsx test/bench/gateway.ts [seconds per run, default 3]
//      BENCH_VARIANTS=bare,gateway  BENCH_PROFILE=DIR (children run with --cpu-prof into DIR)
// Figures are noisy on a shared 2-core machine; nothing is asserted.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Aedes } from 'aedes';
import { runMqttFleet, type MqttFleetResult } from '../../gateway/simulate/mqtt-fleet.js';

// gateway-v5off: MQTT 5 disabled (broker.mqtt5.enabled false), i.e. 3.1.1 connections go to aedes
// without the protocol sniff, as before issue #12; run it by name (BENCH_VARIANTS=gateway,gateway-v5off).
type Variant = 'bare' | 'gateway' | 'gateway-noexport' | 'gateway-v5off';
const VARIANTS: Variant[] = ['bare', 'gateway', 'gateway-noexport'];
type ToParent = { port: number; note: string } | { peakRssMiB: number };

async function serve(variant: Variant): Promise<void> {
  let port: number;
  let note = 'in memory';
  let stop: () => Promise<void> = async () => undefined;
  if (variant === 'bare') {
    const aedes = await Aedes.createBroker();
    const server = createServer({ noDelay: true }, aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  } else {
    // Imported here so the bare broker's process does not load (and hold) the gateway's modules.
    const { loadConfig } = await import('../../gateway/config/index.js');
    const { startGateway } = await import('../../gateway/runtime/index.js');
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-gw-'));
    const file = join(dir, 'gatehouse.json');
    await writeFile(
      file,
      // capacity, not the per-client publish rate limit (10 publishers flat out exceed its default)
      JSON.stringify({
        ...(variant === 'gateway-noexport' ? { exporters: [] } : {}),
        broker: { maxPublishRatePerClient: 0, maxPublishBytesPerSecPerClient: 0, ...(variant === 'gateway-v5off' ? { mqtt5: { enabled: false } } : {}) },
      }),
    );
    const config = await loadConfig(file, { dataDir: join(dir, 'data'), mqttPort: 0, adminPort: 0 });
    const gw = await startGateway(config, { logger: pino({ level: 'warn' }), registry: new Registry(), version: 'bench' });
    port = gw.broker.addresses()[0]!.port;
    const exporters = config.exporters?.length ?? 'default';
    note = `durability ${config.store.durability}, exporters: ${exporters === 'default' ? 'default file exporter' : exporters === 0 ? 'none' : exporters}`;
    stop = async () => {
      await gw.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  // Peak RSS since the last 'reset', sampled (maxRSS of resourceUsage is since process start).
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  timer.unref();
  process.send!({ port, note } satisfies ToParent);
  process.on('message', (m: string) => {
    if (m === 'reset') peak = process.memoryUsage.rss();
    if (m === 'rss') process.send!({ peakRssMiB: Math.max(peak, process.memoryUsage.rss()) / 1048576 } satisfies ToParent);
    if (m === 'exit') {
      clearInterval(timer);
      void stop().finally(() => process.exit(0));
    }
  });
}

async function ask<T extends ToParent>(child: ChildProcess, msg?: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  if (msg) child.send(msg);
  return (await reply)[0];
}

export interface GatewayBenchRow {
  broker: Variant;
  run: string;
  qos: number;
  msgsPerSec: number;
  p50: number;
  p99: number;
  peakRssMiB: number;
  errors: number;
  acked: number;
  sent: number;
}

function row(broker: Variant, run: string, qos: number, r: MqttFleetResult, peakRssMiB: number): GatewayBenchRow {
  return { broker, run, qos, msgsPerSec: r.msgsPerSec, p50: r.latencyMs.p50, p99: r.latencyMs.p99, peakRssMiB, errors: r.errors, acked: r.acked, sent: r.sent };
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 3);
  const variants = (process.env.BENCH_VARIANTS?.split(',') as Variant[] | undefined) ?? VARIANTS;
  const rows: GatewayBenchRow[] = [];
  const notes: string[] = [];
  for (const variant of variants) {
    const execArgv = [...process.execArgv];
    if (process.env.BENCH_PROFILE) execArgv.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`);
    // The gateway runs with the flag it ships with (bin/gatehouse.js, npm start, systemd unit);
    // bare aedes with Node's defaults.
    if (variant !== 'bare' && !execArgv.some((a) => a.includes('semi-space'))) execArgv.push('--max-semi-space-size=8');
    const child = fork(fileURLToPath(import.meta.url), ['serve', variant], { execArgv });
    const { port, note } = await ask<{ port: number; note: string }>(child);
    notes.push(`${variant}: ${note}`);
    const url = `mqtt://127.0.0.1:${port}`;
    const common = { url, devices: 10, payloadBytes: 200, durationMs: seconds * 1000 };
    // Warm-up (JIT, LevelDB files), not reported. At the steady rate: a flat-out warm-up would
    // grow the heap first and the steady run would then report that peak, not its own.
    await runMqttFleet({ ...common, qos: 1, ratePerDevice: 500, durationMs: 1000, prefix: `${variant}-warm` });
    // Steady 5,000 msgs/s (10 x 500), QoS 1: the RSS target's load.
    child.send('reset');
    const steady = await runMqttFleet({ ...common, qos: 1, ratePerDevice: 500, prefix: `${variant}-steady` });
    rows.push(row(variant, 'steady 5k/s', 1, steady, (await ask<{ peakRssMiB: number }>(child, 'rss')).peakRssMiB));
    for (const qos of [0, 1] as const) {
      child.send('reset');
      const r = await runMqttFleet({ ...common, qos, ratePerDevice: 0, prefix: `${variant}-q${qos}` });
      rows.push(row(variant, 'max', qos, r, (await ask<{ peakRssMiB: number }>(child, 'rss')).peakRssMiB));
    }
    if (variant === 'gateway' || variant === 'gateway-noexport') {
      // the same durable QoS 1 run with MQTT 5 publishers (issue #12: within 10% of 3.1.1)
      child.send('reset');
      const r = await runMqttFleet({ ...common, qos: 1, ratePerDevice: 0, protocolVersion: 5, prefix: `${variant}-v5` });
      rows.push(row(variant, 'max MQTT 5', 1, r, (await ask<{ peakRssMiB: number }>(child, 'rss')).peakRssMiB));
    }
    child.send('exit');
    await once(child, 'exit');
  }
  printTable(rows, seconds, notes);
  // Machine-readable line for test/bench/run.ts's summary.
  console.log(`BENCH_JSON ${JSON.stringify({ bench: 'gateway', rows })}`);
}

function printTable(rows: GatewayBenchRow[], seconds: number, notes: string[]): void {
  const head = ['broker', 'run', 'qos', 'msgs/s', 'p50 ms', 'p99 ms', 'peak RSS MiB', 'acked/sent', 'errors'];
  const cells = rows.map((r) => [
    r.broker,
    r.run,
    String(r.qos),
    String(r.msgsPerSec),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.peakRssMiB.toFixed(0),
    `${r.acked}/${r.sent}`,
    String(r.errors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => x.padStart(widths[i]!)).join('  ');
  console.log(
    `gateway bench: 10 publishers, 200-byte JSON, ${seconds} s per run, 64 in flight per publisher when 'max' (QoS 0: msgs/s = written to socket; QoS 1: PUBACKed). Shared 2-core machine: noisy.`,
  );
  for (const n of notes) console.log(`  ${n}`);
  console.log(line(head));
  for (const c of cells) console.log(line(c));
  const pick = (b: Variant, run: string, qos: number): GatewayBenchRow | undefined => rows.find((r) => r.broker === b && r.run === run && r.qos === qos);
  const bare1 = pick('bare', 'max', 1);
  const bareSteady = pick('bare', 'steady 5k/s', 1);
  for (const gw of ['gateway', 'gateway-noexport'] as const) {
    const g1 = pick(gw, 'max', 1);
    const g5 = pick(gw, 'max MQTT 5', 1);
    if (g1 && g5) console.log(`${gw}: QoS 1 rate with MQTT 5 clients ${(g5.msgsPerSec / g1.msgsPerSec).toFixed(2)}x 3.1.1 clients (target >= 0.90)`);
    const gs = pick(gw, 'steady 5k/s', 1);
    if (bare1 && g1) console.log(`${gw}: QoS 1 rate ${(g1.msgsPerSec / bare1.msgsPerSec).toFixed(2)}x bare aedes (target >= 0.70)`);
    if (bareSteady && gs) console.log(`${gw}: peak RSS at 5,000 msgs/s ${(gs.peakRssMiB / bareSteady.peakRssMiB).toFixed(2)}x bare aedes (target <= 1.20)`);
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Variant);
else await main();
