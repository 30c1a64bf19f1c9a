// Idle footprint by part (issue 15): what each part of the gateway costs in memory when loaded,
// for docs/benchmarks.md "Idle footprint".
//
//   default start  one child process loads, in the order a default `gatehouse start` does, each
//                  part the default configuration uses, then starts that gateway; after each step
//                  a full GC, then the growth of RSS and of the V8 heap in use (heapUsed). A part's
//                  row is what it adds on top of the rows above it (shared dependencies count once,
//                  where first loaded).
//   on demand      parts the default configuration does not load (they load when configured):
//                  each in its own child, on top of everything the default start loads.
//
// RSS grows in steps (V8 heap pages, malloc arenas) and includes the young generation V8 grew while
// loading: heapUsed is the steadier column. Run with the shipped V8 flags (bin/gatehouse.js).
//
// Run: node dist/test/bench/footprint.js   (needs --expose-gc in the children: added here)
//      FOOTPRINT_ONLY=protobufjs node dist/test/bench/footprint.js   (the default start, and that on-demand row)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Part {
  name: string;
  /** Module specifiers: packages by name, ours relative to this file (dist/test/bench/). */
  imports: string[];
}

/** The default start's parts, in its load order (gateway/cli/start.ts and what it imports). */
const DEFAULT_PARTS: Part[] = [
  // zod and prom-client as the gateway loads them: zod bundled without its locales (core/zod.ts),
  // prom-client's classes and default metrics from its lib/ files (core/prom-client.ts).
  { name: 'zod (config validation)', imports: ['../../core/zod.js'] },
  { name: 'pino (logs)', imports: ['pino'] },
  { name: 'prom-client (metrics)', imports: ['../../core/prom-client.js', '../../gateway/metrics/registry.js'] },
  { name: 'level (LevelDB, native)', imports: ['level'] },
  { name: 'aedes + mqtt-packet (MQTT broker)', imports: ['aedes', 'mqtt-packet'] },
  {
    name: 'core/ (errors, validation, metrics)',
    imports: ['../../core/errors.js', '../../core/validation.js', '../../core/metrics.js', '../../core/topic-filter.js'],
  },
  { name: 'rules engine: SQL parser, compiler, functions', imports: ['../../rules/sql/compiler.js', '../../rules/sql/template.js'] },
  { name: 'rules engine: windows, anomaly detectors, engine', imports: ['../../rules/index.js'] },
  { name: 'store (local streams)', imports: ['../../gateway/store/index.js'] },
  { name: 'upstream: exporter, destinations (option schemas built on use)', imports: ['../../gateway/upstream/index.js'] },
  { name: 'broker: MQTT 5 layer', imports: ['../../gateway/broker/v5/context.js', '../../gateway/broker/v5/sniff.js'] },
  { name: 'broker: options, guards, listeners', imports: ['../../gateway/broker/index.js'] },
  { name: 'control plane (remote rules, jobs, heartbeat)', imports: ['../../gateway/control/index.js', '../../gateway/control/verify.js'] },
  { name: 'pipeline (ingest, rule host, actions, sources)', imports: ['../../gateway/pipeline/index.js'] },
  { name: 'config (schema of every section, loader)', imports: ['../../gateway/config/index.js'] },
  { name: 'admin API + status page', imports: ['../../gateway/admin/server.js'] },
  { name: 'runtime, CLI start', imports: ['../../gateway/runtime/index.js', '../../gateway/cli/start.js', '../../gateway/metrics/registry.js'] },
];

/** Parts the default configuration does not load. */
const ON_DEMAND: Part[] = [
  { name: 'yaml (a YAML config or rule set file)', imports: ['yaml'] },
  { name: 'node-cron (jobs:)', imports: ['node-cron'] },
  { name: 'serial links: firmware bridge, options', imports: ['../../firmware-bridge/bridge.js', '../../firmware-bridge/options.js'] },
  { name: 'serialport (a serial link opens)', imports: ['serialport'] },
  { name: 'sources: kinds registry and option schemas', imports: ['../../gateway/pipeline/sources/registry.js'] },
  { name: 'sources: file source runtime', imports: ['../../gateway/pipeline/sources/file/source.js'] },
  { name: 'modbus-serial (a modbus source)', imports: ['modbus-serial'] },
  { name: 'node-opcua-client (an opcua source; optional install)', imports: ['node-opcua-client'] },
  {
    name: "protobufjs (a rule with decode(*, 'proto', ...))",
    imports: ['protobufjs/light.js', 'protobufjs/ext/descriptor.js', 'protobufjs/ext/protojson.js', '../../rules/sql/functions/proto.js'],
  },
  { name: 'mqtt (MQTT bridge destination, upstream control)', imports: ['mqtt'] },
  { name: 'nats (NATS destination)', imports: ['nats'] },
  { name: '@aws-sdk/client-kinesis (+ HTTP handler)', imports: ['@aws-sdk/client-kinesis', '@smithy/node-http-handler'] },
  { name: '@aws-sdk/client-firehose', imports: ['@aws-sdk/client-firehose'] },
  { name: '@aws-sdk/client-s3', imports: ['@aws-sdk/client-s3'] },
  { name: 'CLI: check-config', imports: ['../../gateway/cli/check-config.js'] },
  { name: 'CLI: rules (eval, check, sign)', imports: ['../../gateway/cli/rules.js', '../../gateway/cli/rules-offline.js'] },
  { name: 'CLI: config-docs (the full schema)', imports: ['../../gateway/cli/config-docs.js'] },
];

/** V8 flags of bin/gatehouse.js, plus --expose-gc for the measurement. */
const FLAGS = ['--max-semi-space-size=8', '--expose-gc'];
const MiB = 1048576;

interface Step {
  name: string;
  rssMiB: number;
  heapMiB: number;
  error?: string;
}

type Job = { mode: 'default'; parts: Part[] } | { mode: 'on-demand'; base: Part[]; part: Part };

async function settle(): Promise<NodeJS.MemoryUsage> {
  await new Promise((r) => setTimeout(r, 50));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  gc();
  gc();
  return process.memoryUsage();
}

async function importAll(part: Part): Promise<void> {
  for (const spec of part.imports) await import(spec);
}

/** The default start itself: config (no file) validated, gateway started on free ports. */
async function startDefaultGateway(): Promise<() => Promise<void>> {
  const [{ default: pino }, { loadConfig }, { startGateway }, { createMetricsRegistry }] = await Promise.all([
    import('pino'),
    import('../../gateway/config/index.js'),
    import('../../gateway/runtime/index.js'),
    import('../../gateway/metrics/registry.js'),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-footprint-'));
  const file = join(dir, 'gatehouse.json');
  await writeFile(file, '{}');
  const config = await loadConfig(file, { dataDir: join(dir, 'data'), mqttPort: 0, adminPort: 0 });
  const gw = await startGateway(config, { logger: pino({ level: 'warn' }), registry: createMetricsRegistry('bench', config.gatewayId), version: 'bench' });
  return async () => {
    await gw.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

async function child(job: Job): Promise<Step[]> {
  const steps: Step[] = [];
  let prev = await settle();
  steps.push({ name: 'node (empty process)', rssMiB: prev.rss / MiB, heapMiB: prev.heapUsed / MiB });
  const record = async (name: string, error?: string): Promise<void> => {
    const now = await settle();
    steps.push({ name, rssMiB: (now.rss - prev.rss) / MiB, heapMiB: (now.heapUsed - prev.heapUsed) / MiB, ...(error ? { error } : {}) });
    prev = now;
  };
  if (job.mode === 'default') {
    for (const p of job.parts) {
      await importAll(p);
      await record(p.name);
    }
    const stop = await startDefaultGateway();
    await record('started (store open, broker listening, admin, rule set compiled)');
    await new Promise((r) => setTimeout(r, 2000));
    await record('idle 2 s');
    await stop();
  } else {
    for (const p of job.base) await importAll(p);
    await record('default start modules');
    try {
      await importAll(job.part);
      await record(job.part.name);
    } catch (err) {
      await record(job.part.name, (err as { code?: string }).code ?? String(err));
    }
  }
  return steps;
}

async function run(job: Job): Promise<Step[]> {
  const proc = fork(fileURLToPath(import.meta.url), ['child'], { execArgv: FLAGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = once(proc, 'message') as Promise<[Step[]]>;
  proc.send(job);
  const [steps] = await reply;
  await once(proc, 'exit');
  return steps;
}

const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(1)}`;

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const def = await run({ mode: 'default', parts: DEFAULT_PARTS });
  const base = def[0]!;
  lines.push(`Default start (\`${FLAGS[0]}\`), cumulative in load order; each row: what it adds after a full GC.`, '');
  lines.push(row(['part', 'RSS MiB', 'heapUsed MiB']), row(['---', '---:', '---:']));
  lines.push(row([base.name, base.rssMiB.toFixed(1), base.heapMiB.toFixed(1)]));
  for (const s of def.slice(1)) lines.push(row([s.name, signed(s.rssMiB), signed(s.heapMiB)]));
  const total = def.slice(1, -1).reduce((a, s) => ({ rss: a.rss + s.rssMiB, heap: a.heap + s.heapMiB }), { rss: base.rssMiB, heap: base.heapMiB });
  lines.push(row(['**total after start (before idle)**', total.rss.toFixed(1), total.heap.toFixed(1)]));
  lines.push('', 'Loaded only when configured (each on top of the default start modules):', '');
  lines.push(row(['part', 'RSS MiB', 'heapUsed MiB']), row(['---', '---:', '---:']));
  // FOOTPRINT_ONLY=protobufjs: only the on-demand rows whose name holds it (one part measured again).
  const only = process.env.FOOTPRINT_ONLY;
  for (const part of ON_DEMAND.filter((p) => only === undefined || p.name.includes(only))) {
    const steps = await run({ mode: 'on-demand', base: DEFAULT_PARTS, part });
    const s = steps.at(-1)!;
    lines.push(row([part.name, s.error ? `not installed (${s.error})` : signed(s.rssMiB), s.error ? '' : signed(s.heapMiB)]));
  }
  console.log(lines.join('\n'));
}

if (process.argv[2] === 'child') {
  process.once('message', (job: Job) => {
    void child(job).then(
      (steps) => process.send!(steps, () => process.exit(0)),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}
