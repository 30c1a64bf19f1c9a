// File tail benchmark: 200-byte lines pre-written to 4 files, tailed by one file source from the
// start into a local stream (durability fsync), raw and with LOGTOJSON COMBINEDAPACHELOG. Reports
// lines/s and CPU microseconds per line (user+system of this process, which also runs the store).
// The source hands lines to a small intake that appends to the stream (test/helpers/store-intake.ts),
// not through the rules engine. Run: node --import tsx test/bench/tail.ts [lines per file, default 100000].
// Figures are noisy (shared 2-core machine); nothing here asserts timings.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';
import { storeIntake } from '../helpers/store-intake.js';

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
    await mkdir(join(dir, 'logs'));
    for (let f = 0; f < FILES; f++) {
      const parts: string[] = [];
      for (let i = 0; i < perFile; i++) parts.push(combinedLine(f * perFile + i));
      await writeFile(join(dir, 'logs', `f${f}.log`), parts.join(''));
    }
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
    console.log(`${label.padEnd(28)} ${String(total).padStart(8)} lines  ${row.seconds.toFixed(2).padStart(6)} s  ${String(row.linesPerSec).padStart(8)} lines/s  ${row.cpuUsPerLine.toFixed(2).padStart(6)} us CPU/line  (${row.cpuCores} cores)`);
    return row;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`file tail: 4 files x ${perFile} lines of 200 bytes, into one stream (fsync)`);
const rows = [await runCase('raw lines', []), await runCase('LOGTOJSON COMBINEDAPACHELOG', [{ optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' }])];
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'tail', rows })}`);
