// The http source's throughput in a real gateway process (the default rule archives every message
// into `archive`; no exporter, so nothing upstream competes): requests/s and messages/s for single
// POSTs and NDJSON batches (also gzip: Fluent Bit's compress gzip) over keep-alive connections, the gateway's CPU per message (its
// /proc/<pid>/stat utime+stime over the run), and the client's p50/p99 answer time (the 200
// arrives after the group commit's fsync: durability: fsync, the default). Prints figures; no
// timed assertion.
// Run: npm run -s build && node dist/test/bench/http-source.js   (BENCH_SECONDS=5 per case)
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
}

function postOnce(agent: Agent, port: number, path: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Row {
  case: string;
  clients: number;
  perRequest: number;
  /** Bytes of a request's body as sent (gzip: compressed). */
  bodyBytes: number;
  requestsPerSec: number;
  messagesPerSec: number;
  cpuUsPerMessage: number;
  p50Ms: number;
  p99Ms: number;
  refused: number;
}

async function run(name: string, pid: number, port: number, clients: number, lines: number, gzip = false): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const line = (i: number) => `{"temp":${(20 + (i % 100) / 10).toFixed(1)},"seq":${i}}`;
  const ndjson = lines > 1;
  const headers: Record<string, string> = {
    'content-type': ndjson ? 'application/x-ndjson' : 'application/json',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  };
  let sent = 0;
  const latencies: number[] = [];
  let requests = 0;
  let refused = 0;
  const until = performance.now() + SECONDS * 1000;
  const cpu0 = cpuTicks(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const text = Buffer.from(ndjson ? `${Array.from({ length: lines }, (_, k) => line(i * lines + k)).join('\n')}\n` : line(i));
        // Fluent Bit's compress gzip: the client's compression is not the gateway's CPU
        const body = gzip ? gzipSync(text) : text;
        sent += body.length;
        const s = performance.now();
        const status = await postOnce(agent, port, `/topics/bench/dev${c}`, body, headers);
        latencies.push(performance.now() - s);
        if (status === 200) requests++;
        else refused++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpuSecs = (cpuTicks(pid) - cpu0) / TICKS;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10;
  const messages = requests * lines;
  return {
    case: name,
    clients,
    perRequest: lines,
    bodyBytes: Math.round(sent / Math.max(1, latencies.length)),
    requestsPerSec: Math.round(requests / secs),
    messagesPerSec: Math.round(messages / secs),
    cpuUsPerMessage: Math.round((cpuSecs * 1e7) / Math.max(1, messages)) / 10,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    refused,
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-http-'));
  try {
    const port = await freePort();
    const config = await writeConfig(
      dir,
      `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nstreams:\n  archive: { maxBytes: 1073741824, onFull: drop-oldest }\nsources:\n  - { type: http, name: bench, port: ${port}, maxInFlight: 256 }\n`,
    );
    const gw = await startGatewayProcess(config);
    try {
      const pid = gw.proc.pid as number;
      const rows: Row[] = [];
      rows.push(await run('single POST', pid, port, 1, 1));
      rows.push(await run('single POST', pid, port, 16, 1));
      rows.push(await run('single POST', pid, port, 64, 1));
      rows.push(await run('NDJSON x100', pid, port, 4, 100));
      rows.push(await run('NDJSON x1000', pid, port, 4, 1000));
      rows.push(await run('NDJSON x1000 gzip', pid, port, 4, 1000, true));
      console.table(rows);
    } finally {
      await gw.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
