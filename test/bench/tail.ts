// File tail benchmark: 200-byte lines pre-written to 4 files, tailed by one file source from the
// start into a local stream (durability fsync), raw and with LOGTOJSON COMBINEDAPACHELOG. Reports
// lines/s and CPU microseconds per line (user+system of this process, which also runs the store).
// Two set-ups: in process (the source hands lines to a small intake that appends to the stream,
// test/helpers/store-intake.ts, no rules), and through the real gateway in a child process (file
// source -> ingest -> a rule `SELECT * FROM 'file/bench'` -> stream action), its CPU read from
// /proc/<pid>/stat. Run: node --import tsx test/bench/tail.ts [lines per file, default 100000].
// Figures are noisy (shared 2-core machine); nothing here asserts timings.
import { mkdtemp, rm, writeFile, mkdir, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';
import { storeIntake } from '../helpers/store-intake.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const perFile = Number(process.argv[2] ?? 100_000);
const FILES = 4;

function combinedLine(i: number): string {
  // A COMBINEDAPACHELOG line padded to 200 bytes with the newline.
  const head = `10.0.${i % 250}.${(i >> 8) % 250} - frank [10/Oct/2000:13:55:36 -0700] "GET /api/v1/items/${i} HTTP/1.1" 200 ${i % 9000} "http://example.com/start" "`;
  const agent = 'Mozilla/5.0 (X11; Linux aarch64) bench'.padEnd(199 - head.length - 1, '.');
  return `${head}${agent}"\n`;
}

async function runCase(label: string, dataProcessingOptions: unknown[]): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-tail-'));
  try {
    await writeFiles(join(dir, 'logs'));
    const deps = { logger: pino({ level: 'silent' }), registry: new Registry() };
    const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'fsync' }, deps);
    await store.defineStream({ name: 'logs', maxBytes: 4 * 1024 * 1024 * 1024, onFull: 'reject' });
    const intake = storeIntake(store, 'logs', 'bench');
    const source = new FileSource(
      fileSourceSchema.parse({ type: 'file', name: 'bench', paths: [join(dir, 'logs', '*.log')], initialPosition: 'start_of_file', dataProcessingOptions }),
      { ...deps, dataDir: dir },
    );
    const total = FILES * perFile;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await source.start(intake);
    await new Promise<void>((resolve) => {
      const poll = (): void => {
        if (store.info('logs').lastSeq >= total) resolve();
        else setTimeout(poll, 5);
      };
      poll();
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await source.stop();
    await store.close();
    const row = {
      case: label,
      lines: total,
      seconds: Number(seconds.toFixed(2)),
      linesPerSec: Math.round(total / seconds),
      cpuUsPerLine: Number(((cpu.user + cpu.system) / total).toFixed(2)),
      cpuCores: Number(((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2)),
    };
    console.log(
      `${label.padEnd(28)} ${String(total).padStart(8)} lines  ${row.seconds.toFixed(2).padStart(6)} s  ${String(row.linesPerSec).padStart(8)} lines/s  ${row.cpuUsPerLine.toFixed(2).padStart(6)} us CPU/line  (${row.cpuCores} cores)`,
    );
    return row;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeFiles(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let f = 0; f < FILES; f++) {
    const parts: string[] = [];
    for (let i = 0; i < perFile; i++) parts.push(combinedLine(f * perFile + i));
    await writeFile(join(dir, `f${f}.log`), parts.join(''));
  }
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
async function procCpu(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

async function runGatewayCase(label: string, dataProcessingOptions: unknown[]): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-tailgw-'));
  try {
    await writeFiles(join(dir, 'staging'));
    await mkdir(join(dir, 'logs'));
    const config = await writeConfig(
      dir,
      [
        `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
        'store: { durability: fsync }',
        'sources:',
        `  - { type: file, name: bench, paths: [${JSON.stringify(join(dir, 'logs', '*.log'))}], scanIntervalMs: 100, dataProcessingOptions: ${JSON.stringify(dataProcessingOptions)} }`,
        'streams:',
        '  logs: { maxBytes: 4294967296, onFull: reject }',
        'rules: { version: 1, rules: [{ name: logs, sql: "SELECT * FROM \'file/bench\'", actions: [{ stream: { name: logs } }] }] }',
        'exporters: []',
        '',
      ].join('\n'),
    );
    const gw = await startGatewayProcess(config, [], 60_000);
    try {
      const total = FILES * perFile;
      const cpu0 = await procCpu(gw.proc.pid!);
      const t0 = performance.now();
      // Files moved in while running are read from their start.
      for (let f = 0; f < FILES; f++) await rename(join(dir, 'staging', `f${f}.log`), join(dir, 'logs', `f${f}.log`));
      for (;;) {
        const res = await fetch(`${gw.adminUrl}/api/streams`);
        const body = (await res.json()) as { streams: Array<{ name: string; lastSeq: number }> };
        if ((body.streams.find((s) => s.name === 'logs')?.lastSeq ?? 0) >= total) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = (await procCpu(gw.proc.pid!)) - cpu0;
      const row = {
        case: `gateway: ${label}`,
        lines: total,
        seconds: Number(seconds.toFixed(2)),
        linesPerSec: Math.round(total / seconds),
        cpuUsPerLine: Number(((cpu * 1e6) / total).toFixed(2)),
        cpuCores: Number((cpu / seconds).toFixed(2)),
      };
      console.log(
        `${row.case.padEnd(37)} ${String(total).padStart(8)} lines  ${row.seconds.toFixed(2).padStart(6)} s  ${String(row.linesPerSec).padStart(8)} lines/s  ${row.cpuUsPerLine.toFixed(2).padStart(6)} us CPU/line  (${row.cpuCores} cores)`,
      );
      return row;
    } finally {
      await gw.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const LOG = [{ optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' }];
console.log(`file tail: 4 files x ${perFile} lines of 200 bytes, into one stream (fsync); busy shared machine, figures are noisy`);
const rows = [
  await runCase('raw lines', []),
  await runCase('LOGTOJSON COMBINEDAPACHELOG', LOG),
  await runGatewayCase('raw lines', []),
  await runGatewayCase('LOGTOJSON COMBINEDAPACHELOG', LOG),
];
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'tail', rows })}`);
