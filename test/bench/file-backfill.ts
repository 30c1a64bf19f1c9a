// File backfill benchmark: many small files present at the first start (rotated logs, a backfill),
// read from their start by one file source with a small maxOpenFiles, into a local stream
// (durability fsync). Reports the time until every line is committed, the CPU of the process (the
// store included), the most files seen open, and the files opened more than once. A case that has not finished within the cap reports how many files
// it had read by then. Run: node dist/test/bench/file-backfill.js [files, default 200] [lines per file, default 50].
// Figures are noisy (shared 2-core machine); nothing here asserts timings.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { openLocalStreams } from '../../gateway/store/index.js';
import { fileSourceSchema, type FileSourceOptionsInput } from '../../gateway/pipeline/sources/file/options.js';
import { FileSource } from '../../gateway/pipeline/sources/file/source.js';
import { storeIntake } from '../helpers/store-intake.js';

const files = Number(process.argv[2] ?? 200);
const perFile = Number(process.argv[3] ?? 50);
const capS = Number(process.env.BENCH_CAP_S ?? 120);

interface FileRow {
  state: string;
  offset: number;
  size: number;
  opens?: number;
}

async function runCase(label: string, options: Partial<FileSourceOptionsInput>): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-backfill-'));
  try {
    await mkdir(join(dir, 'logs'));
    for (let f = 0; f < files; f++) {
      let s = '';
      for (let i = 0; i < perFile; i++) s += `file ${f} line ${i} ${'x'.repeat(40)}\n`;
      await writeFile(join(dir, 'logs', `app.log.${f + 1}`), s);
    }
    const deps = { logger: pino({ level: 'silent' }), registry: new Registry() };
    const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'fsync' }, deps);
    await store.defineStream({ name: 'logs', maxBytes: 1 << 30, onFull: 'reject' });
    const source = new FileSource(
      fileSourceSchema.parse({ type: 'file', name: 'backfill', paths: [join(dir, 'logs', 'app.log.*')], initialPosition: 'start_of_file', ...options }),
      { ...deps, dataDir: dir },
    );
    const total = files * perFile;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await source.start(storeIntake(store, 'logs', 'bench'));
    let maxOpen = 0;
    // The store every 5 ms, the status (a row per file: not free) every 100 ms, so that the
    // bench's own polling stays out of the CPU figure.
    for (let i = 0; ; i++) {
      if (i % 20 === 0) maxOpen = Math.max(maxOpen, source.status().details?.openFiles as number);
      if (store.info('logs').lastSeq >= total || performance.now() - t0 > capS * 1000) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    maxOpen = Math.max(maxOpen, source.status().details?.openFiles as number);
    const rows = source.status().details?.files as FileRow[];
    const finished = store.info('logs').lastSeq >= total;
    await source.stop();
    await store.close();
    const done = rows.filter((r) => r.offset >= r.size && r.size > 0).length;
    const reopened = rows.filter((r) => (r.opens ?? 1) > 1).length;
    const row = {
      case: label,
      files,
      lines: total,
      finished,
      filesRead: done,
      seconds: Number(seconds.toFixed(2)),
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
      maxOpen,
      reopened,
    };
    console.log(
      `${label.padEnd(44)} ${row.finished ? 'all' : `${done} of`} ${files} files in ${row.seconds.toFixed(2).padStart(7)} s${row.finished ? '' : ' (cap)'}, CPU ${row.cpuSeconds} s, at most ${maxOpen} open, ${reopened} reopened`,
    );
    return row;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`file backfill: ${files} files x ${perFile} lines present at the first start, read from the start (fsync); cap ${capS} s per case`);
const rows = [
  await runCase('maxOpenFiles 8 (closeIdleMs 60000, default)', { maxOpenFiles: 8 }),
  await runCase('maxOpenFiles 8, closeIdleMs 1000 (its minimum)', { maxOpenFiles: 8, closeIdleMs: 1000 }),
  await runCase(`maxOpenFiles ${files + 56} (every file open)`, { maxOpenFiles: files + 56 }),
];
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'file-backfill', rows })}`);
