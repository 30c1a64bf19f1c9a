// Disk the store really uses (du -sb of <dataDir>/store), not the bytes it counts: the real gateway
// (child process), real mqtt.js QoS 1 publishers, the http exporter to the Firehose-protocol
// receiver of the tests.
//
//   backlog   stream `archive` (maxBytes 1 GiB, onFull reject), its exporter's receiver down: publish
//             MB megabytes, then the receiver comes up; du is sampled while it drains and for
//             WATCH seconds after the stream is empty (is the space of exported records given back?)
//   drop      stream `archive` (maxBytes 64 MiB, onFull drop-oldest, no exporter): publish MB
//             megabytes; du is sampled as it goes (does maxBytes bound the disk?)
//
// Run: node dist/test/bench/store-disk.js backlog|drop [MB, default 500] [WATCH s, default 90]
// Payloads are 1 KiB JSON with random hex (snappy cannot shrink them much). Figures, no assertions.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const MiB = 1024 * 1024;
const mode = process.argv[2] ?? 'backlog';
const megabytes = Number(process.argv[3] ?? 500);
const watchSeconds = Number(process.argv[4] ?? 90);

function du(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
}

const mib = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;

/** CPU seconds (user + system, every thread: LevelDB's compactions too) and bytes written to the block layer by a process. */
function processCost(pid: number): { cpuSeconds: number; writeBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const writeBytes = Number(/^write_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, writeBytes };
}

interface StreamRow {
  records: number;
  bytes: number;
  lastSeq: number;
  droppedRecords: number;
}

async function stream(gw: GatewayProcess): Promise<StreamRow> {
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  const body = (await res.json()) as { streams: Array<StreamRow & { name: string }> };
  const s = body.streams.find((x) => x.name === 'archive');
  if (!s) throw new Error('no stream archive');
  return s;
}

/** Publish `bytes` of 1 KiB payloads with QoS 1 from 4 clients, each with 64 in flight. */
async function publish(gw: GatewayProcess, bytes: number, every: number, sample: () => Promise<void>): Promise<number> {
  const perClient = Math.ceil(bytes / 1024 / 4);
  let sent = 0;
  let nextSample = every;
  const clients = await Promise.all([0, 1, 2, 3].map((i) => mqtt.connectAsync(gw.mqttUrl, { clientId: `bench-${i}`, reconnectPeriod: 0 })));
  await Promise.all(
    clients.map(async (c, i) => {
      const work = async (): Promise<void> => {
        while (sent < bytes) {
          const n = sent;
          sent += 1024;
          const payload = JSON.stringify({ device: `d${i}`, n, blob: randomBytes(480).toString('hex') }).padEnd(1024, ' ');
          await c.publishAsync(`fleet/d${i}/data`, payload, { qos: 1 });
          if (sent >= nextSample) {
            nextSample += every;
            await sample();
          }
        }
      };
      await Promise.all(Array.from({ length: 64 }, work));
    }),
  );
  await Promise.all(clients.map((c) => c.endAsync()));
  return Math.min(perClient * 4 * 1024, sent);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-disk-'));
  const rx = await startFirehoseReceiver({ recordRequests: false });
  let gw: GatewayProcess | undefined;
  try {
    const streamYaml = mode === 'drop' ? '{ maxBytes: 67108864, onFull: drop-oldest, localOnly: true }' : '{ maxBytes: 1073741824, onFull: reject }';
    const exporters =
      mode === 'drop'
        ? 'exporters: []'
        : `exporters:\n  - { name: up, stream: archive, destination: { type: http, url: "${rx.url}" }, batch: { maxRecords: 500 } }`;
    const config = await writeConfig(dir, [`dataDir: ${JSON.stringify(join(dir, 'data'))}`, 'streams:', `  archive: ${streamYaml}`, exporters, ''].join('\n'));
    if (mode !== 'drop') await rx.down();
    gw = await startGatewayProcess(config);
    const store = join(dir, 'data', 'store');
    const t0 = performance.now();
    const secs = (): string => ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
    let maxDu = 0;
    const sample = async (): Promise<void> => {
      const s = await stream(gw as GatewayProcess);
      const d = du(store);
      maxDu = Math.max(maxDu, d);
      console.log(
        `${secs()} s  du ${mib(d).padStart(9)}  held ${mib(s.bytes).padStart(9)} (${s.records} records)  appended ${s.lastSeq}  dropped ${s.droppedRecords}`,
      );
    };
    await publish(gw, megabytes * MiB, 25 * MiB, sample);
    await sample();
    const cost = processCost(gw.proc.pid as number);
    console.log(
      `published ${megabytes} MiB in ${secs().trim()} s; max du ${mib(maxDu)}; gateway CPU ${cost.cpuSeconds.toFixed(1)} s, written to disk ${mib(cost.writeBytes)}`,
    );
    if (mode !== 'drop') {
      await rx.up();
      const d0 = performance.now();
      for (;;) {
        await new Promise((r) => setTimeout(r, 5000));
        await sample();
        if ((await stream(gw)).records === 0) break;
      }
      const c = processCost(gw.proc.pid as number);
      console.log(
        `drained in ${((performance.now() - d0) / 1000).toFixed(0)} s; gateway CPU ${c.cpuSeconds.toFixed(1)} s, written to disk ${mib(c.writeBytes)}`,
      );
    }
    for (let waited = 0; waited < watchSeconds; waited += 10) {
      await new Promise((r) => setTimeout(r, 10_000));
      await sample();
    }
    if (gw) {
      const c = processCost(gw.proc.pid as number);
      const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      const compactions = /^gatehouse_store_compactions_total (\d+)/m.exec(metrics)?.[1] ?? 'n/a';
      const given = Number(/^gatehouse_store_compacted_bytes_total (\d+)/m.exec(metrics)?.[1] ?? Number.NaN);
      console.log(
        `end: max du ${mib(maxDu)}; gateway CPU ${c.cpuSeconds.toFixed(1)} s, written to disk ${mib(c.writeBytes)}; compactions ${compactions}, given back ${mib(given)}`,
      );
    }
  } finally {
    await gw?.stop();
    await rx.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
