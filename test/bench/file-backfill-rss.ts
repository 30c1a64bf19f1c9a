// Memory of a real gateway process during a large file backfill: N files present at the first
// start, read from their start (initialPosition start_of_file, default maxOpenFiles) through a
// rule into a local stream (fsync). Samples VmRSS of the gateway (/proc/PID/status) every 100 ms and
// reports the peak (VmHWM), the time until every line is in the stream, then the same after a
// restart (state resumed, nothing left to read). The gateway runs on a Raspberry Pi: RSS must stay
// bounded and small whatever the number of files.
// Run: node dist/test/bench/file-backfill-rss.js [files, default 2400] [lines per file, default 200]
// [line bytes, default 120]. Figures are noisy (shared machine); nothing here asserts them.
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const files = Number(process.argv[2] ?? 2400);
const perFile = Number(process.argv[3] ?? 200);
const lineBytes = Number(process.argv[4] ?? 120);
const capS = Number(process.env.BENCH_CAP_S ?? 600);

async function vm(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function records(gw: GatewayProcess): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  const body = (await res.json()) as { streams: Array<{ name: string; lastSeq?: number; records?: number }> };
  const s = body.streams.find((x) => x.name === 'logs');
  return s?.lastSeq ?? 0;
}

async function run(label: string, configFile: string, total: number): Promise<Record<string, number | string | boolean>> {
  const t0 = performance.now();
  const gw = await startGatewayProcess(configFile, [], 60_000, [
    '--max-semi-space-size=8',
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []),
  ]);
  const pid = gw.proc.pid!;
  let n = 0;
  let peak = 0;
  try {
    for (;;) {
      peak = Math.max(peak, (await vm(pid)).rss);
      n = await records(gw);
      if (n >= total || performance.now() - t0 > capS * 1000) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - t0) / 1000;
    const { rss, hwm } = await vm(pid);
    const row = {
      case: label,
      files,
      lines: total,
      done: n >= total,
      seconds: Number(seconds.toFixed(1)),
      peakRssMB: Math.round(Math.max(peak, hwm)),
      endRssMB: Math.round(rss),
    };
    console.log(`${label.padEnd(24)} ${n} of ${total} lines in ${row.seconds} s, peak RSS ${row.peakRssMB} MB (VmHWM), at the end ${row.endRssMB} MB`);
    return row;
  } finally {
    await gw.stop();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-backfill-rss-'));
try {
  await mkdir(join(dir, 'logs'));
  const pad = 'x'.repeat(Math.max(0, lineBytes - 30));
  for (let f = 0; f < files; f++) {
    let s = '';
    for (let i = 0; i < perFile; i++) s += `file ${f} line ${i} ${pad}\n`;
    await writeFile(join(dir, 'logs', `app-${f}.log`), s);
  }
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${join(dir, 'data')}`,
      'sources:',
      '  - type: file',
      '    name: backfill',
      `    paths: [${join(dir, 'logs')}/*.log]`,
      '    initialPosition: start_of_file',
      '    topic: logs/{name}/{stem}',
      // e.g. BENCH_SOURCE='maxInFlightBytes: 1048576' (source options, one per line separated by ';')
      ...(process.env.BENCH_SOURCE ?? '')
        .split(';')
        .filter(Boolean)
        .map((l) => `    ${l.trim()}`),
      'streams:',
      '  logs: { maxBytes: 4294967296, onFull: reject, localOnly: true }',
      'rules:',
      '  version: 1',
      '  rules:',
      '    - name: all',
      `      sql: "SELECT * FROM 'logs/#'"`,
      '      actions: [{ stream: { name: logs } }]',
      'exporters: []',
      '',
    ].join('\n'),
  );
  const total = files * perFile;
  console.log(
    `file backfill RSS: ${files} files x ${perFile} lines of ${lineBytes} bytes (${Math.round((total * lineBytes) / 2 ** 20)} MiB), read from the start by a gateway process`,
  );
  const rows = [await run('first start (backfill)', config, total), await run('restart (nothing to read)', config, total)];
  console.log(`BENCH_JSON ${JSON.stringify({ bench: 'file-backfill-rss', rows })}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
