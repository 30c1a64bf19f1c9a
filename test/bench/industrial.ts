// Industrial sources bench (issue 13), each part against peers in a separate process:
//  1. Modbus TCP: 10 devices x 100 holding registers polled at 10 Hz (10 sources, values committed
//     to a real store), values/s and CPU per poll (this process only: source + store).
//  2. OPC UA: 5,000 monitored items changing every second, publishing interval 1 s: values/s,
//     RSS and CPU of this process.
//  3. Idle RSS of the real gateway (child process) without industrial sources, with a Modbus
//     source and with an OPC UA source (node-opcua loaded only in the last case).
// Run: node dist/test/bench/industrial.js [seconds]   (figures are noisy on a shared machine)
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import { storeIntake } from '../helpers/industrial.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.js') ? '.js' : '.ts';
const seconds = Number(process.argv[2] ?? 10);
const cleanups: Array<() => unknown> = [];
const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;

async function peers(args: string[]): Promise<{ child: ChildProcess; info: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), join(here, `industrial-peers${ext}`), ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('PEERS ') && resolve(JSON.parse(l.slice(6)) as Record<string, unknown>));
    child.on('exit', (c) => reject(new Error(`peers exited ${c}`)));
  });
  return { child, info };
}

const deps = (dataDir = tmpdir()) => ({ logger: pino({ level: 'silent' }), registry: new Registry(), dataDir });
const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;

async function window<T>(ms: number, measure: () => T): Promise<{ cpuMs: number; wallMs: number; before: T; after: T }> {
  const before = measure();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0, before, after: measure() };
}

async function modbusBench(publish: 'tag' | 'group'): Promise<Record<string, unknown>> {
  const { info } = await peers(['modbus', '10', '100']);
  const intake = await storeIntake(ctx);
  const d = deps();
  const sources: Source[] = [];
  for (const [i, port] of (info.ports as number[]).entries()) {
    const s = await modbusKind.create(
      modbusOptionsSchema.parse({
        type: 'modbus',
        name: `dev${i}`,
        tcp: { host: '127.0.0.1', port },
        publish,
        topic: publish === 'tag' ? 'plant/${device}/${tag}' : 'plant/${device}/${group}',
        devices: [
          {
            name: `dev${i}`,
            groups: [{ name: 'fast', intervalMs: 100, tags: Array.from({ length: 100 }, (_, k) => ({ name: `r${k}`, area: 'holding', address: k })) }],
          },
        ],
      }),
      d,
    );
    await s.start(intake);
    sources.push(s);
  }
  const values = async (): Promise<number> =>
    ((await d.registry.getSingleMetric('gatehouse_industrial_values_total')?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
  await new Promise((r) => setTimeout(r, 2000)); // warm-up
  const v0 = await values();
  const w = await window(seconds * 1000, () => null);
  const v1 = await values();
  const polls = (v1 - v0) / 100;
  const latencies = sources.map((s) => (s.status().details as { devices: { groups: { pollLatencyMs: number }[] }[] }).devices[0]!.groups[0]!.pollLatencyMs);
  for (const s of sources) await s.stop();
  return {
    part: `modbus 10x100 @10Hz publish=${publish}`,
    pollsPerSec: Math.round(polls / (w.wallMs / 1000)),
    targetPollsPerSec: 100,
    valuesPerSec: Math.round((v1 - v0) / (w.wallMs / 1000)),
    cpuPct: Math.round((w.cpuMs / w.wallMs) * 1000) / 10,
    cpuMsPerPoll: Math.round((w.cpuMs / polls) * 100) / 100,
    lastPollLatencyMs: Math.max(...latencies),
    rssMiB: mib(process.memoryUsage().rss),
  };
}

async function opcuaBench(items: number): Promise<Record<string, unknown>> {
  const { info } = await peers(['opcua', String(items)]);
  const intake = await storeIntake(ctx);
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-ua-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const rss0 = process.memoryUsage().rss;
  const d = deps(dataDir);
  const s = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: info.endpoint,
      connectTimeoutMs: 60_000,
      subscriptions: [
        { publishingIntervalMs: 1000, items: Array.from({ length: items }, (_, i) => ({ nodeId: `ns=1;s=Var${i}`, name: `v${i}`, samplingIntervalMs: 1000 })) },
      ],
    }),
    d,
  );
  const t0 = performance.now();
  await s.start(intake);
  const st = (): { values: number; state: string } => s.status().details as { values: number; state: string };
  while (st().values < items) await new Promise((r) => setTimeout(r, 200));
  const subscribedS = Math.round((performance.now() - t0) / 100) / 10;
  await new Promise((r) => setTimeout(r, 2000));
  const w = await window(seconds * 1000, () => st().values);
  await s.stop();
  return {
    part: `opcua ${items} items @1s`,
    subscribeAndFirstValuesS: subscribedS,
    valuesPerSec: Math.round((w.after - w.before) / (w.wallMs / 1000)),
    cpuPct: Math.round((w.cpuMs / w.wallMs) * 1000) / 10,
    rssMiB: mib(process.memoryUsage().rss),
    rssGrowthMiB: mib(process.memoryUsage().rss - rss0),
  };
}

async function idleRss(label: string, sourcesYaml: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-idle-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const gw = await startGatewayProcess(await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n${sourcesYaml}`), [], 120_000);
  await new Promise((r) => setTimeout(r, 8000));
  const status = await readFile(`/proc/${gw.proc.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  await gw.stop();
  return { part: `idle gateway: ${label}`, rssMiB: Math.round(kb / 102.4) / 10 };
}

const rows: Record<string, unknown>[] = [];
try {
  rows.push(await modbusBench('group'));
  rows.push(await modbusBench('tag'));
  rows.push(await opcuaBench(5000));
  const { info: mb } = await peers(['modbus', '1', '10']);
  const { info: ua } = await peers(['opcua', '10']);
  rows.push(await idleRss('no industrial source', ''));
  rows.push(
    await idleRss(
      '1 modbus source (10 registers @1 s)',
      `sources:\n  - { type: modbus, name: m, tcp: { host: 127.0.0.1, port: ${(mb.ports as number[])[0]} }, devices: [{ name: d, groups: [{ tags: [${Array.from({ length: 10 }, (_, i) => `{ name: r${i}, area: holding, address: ${i} }`).join(', ')}] }] }] }\n`,
    ),
  );
  rows.push(
    await idleRss(
      '1 opcua source (10 items @1 s)',
      `sources:\n  - { type: opcua, name: u, endpoint: ${JSON.stringify(ua.endpoint)}, subscriptions: [{ items: [${Array.from({ length: 10 }, (_, i) => `{ nodeId: 'ns=1;s=Var${i}', name: v${i} }`).join(', ')}] }] }\n`,
    ),
  );
} finally {
  for (const c of cleanups.reverse()) await c();
}
for (const r of rows) console.log(JSON.stringify(r));
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'industrial', rows })}`);
process.exit(0);
