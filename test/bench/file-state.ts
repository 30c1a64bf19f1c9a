// What a file source's committed state costs a real gateway process (the Raspberry Pi's SD card and
// CPU), in two modes:
// - steady [files, default 2000] [seconds, default 30]: every file tailed (initialPosition
//   end_of_file) gets about one line a second, spread over the second; reports the bytes the
//   gateway wrote (/proc/PID/io write_bytes, the store's WAL and tables) per second and per store
//   commit (gatehouse_store_commit_seconds_count), and its CPU.
// - start [files, default 2400] [lines per file, default 20]: the files read at a first start, then
//   the time a restart takes until the gateway is started (its sources started: every file's state
//   resumed) and until every file is tracked again.
// - first [files, default 2000]: every file empty when tailed, then one line written to each at
//   once (a service creating its logs at start): the time and CPU until every line is stored (an
//   empty file's first line costs a look for content copied away from it).
// Run: node dist/test/bench/file-state.js steady|start|first [files] [n]. Figures are noisy (shared
// machine); nothing here asserts them.
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const mode = process.argv[2] ?? 'steady';
const files = Number(process.argv[3] ?? (mode === 'start' ? 2400 : 2000));
const n = Number(process.argv[4] ?? (mode === 'start' ? 20 : 30));
/** e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (the gateway's node options) */
const nodeArgs = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [];

async function io(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/io`, 'utf8');
  return Number(/write_bytes:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

async function cpuSeconds(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** GET, once more after a reset connection (a kept-alive socket the admin server closed meanwhile). */
async function get(url: string): Promise<Response> {
  try {
    return await fetch(url);
  } catch {
    await new Promise((r) => setTimeout(r, 50));
    return fetch(url, { headers: { connection: 'close' } });
  }
}

async function commits(gw: GatewayProcess): Promise<number> {
  const text = await (await get(`${gw.adminUrl}/metrics`)).text();
  return Number(/^gatehouse_store_commit_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
}

async function records(gw: GatewayProcess): Promise<number> {
  const body = (await (await get(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; lastSeq?: number }> };
  return body.streams.find((x) => x.name === 'logs')?.lastSeq ?? 0;
}

async function tracked(gw: GatewayProcess): Promise<number> {
  const body = (await (await get(`${gw.adminUrl}/api/sources`)).json()) as { sources: Array<{ name: string; details?: { files?: unknown[] } }> };
  return body.sources.find((s) => s.name === 'tail')?.details?.files?.length ?? 0;
}

async function until(what: string, f: () => Promise<boolean>, capMs = 600_000): Promise<void> {
  const t0 = performance.now();
  while (!(await f())) {
    if (performance.now() - t0 > capMs) throw new Error(`${what}: not within ${capMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-file-state-'));
const logs = join(dir, 'logs');
try {
  await mkdir(logs);
  // (steady: one line already, as a live log has: an empty file's first line costs a look for copies)
  const lines = mode === 'start' ? n : mode === 'first' ? 0 : 1;
  for (let f = 0; f < files; f++) {
    let s = '';
    for (let i = 0; i < lines; i++) s += `file ${f} line ${i} ${'x'.repeat(60)}\n`;
    await writeFile(join(logs, `app-${f}.log`), s);
  }
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${join(dir, 'data')}`,
      'sources:',
      '  - type: file',
      '    name: tail',
      `    paths: [${logs}/*.log]`,
      `    initialPosition: ${mode === 'start' ? 'start_of_file' : 'end_of_file'}`,
      `    maxOpenFiles: ${files + 16}`,
      '    scanIntervalMs: 60000',
      '    topic: logs/{name}/{stem}',
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
  if (mode === 'first') {
    const gw = await startGatewayProcess(config, [], 600_000, nodeArgs);
    try {
      await until('every file tracked', async () => (await tracked(gw)) >= files);
      const pid = gw.proc.pid!;
      const cpu0 = await cpuSeconds(pid);
      const t0 = performance.now();
      const writes = [];
      for (let f = 0; f < files; f++) writes.push(appendFile(join(logs, `app-${f}.log`), `file ${f} line 0 ${'x'.repeat(60)}\n`));
      await Promise.all(writes);
      await until('every first line stored', async () => (await records(gw)) >= files);
      const s = (performance.now() - t0) / 1000;
      const cpuS = Number(((await cpuSeconds(pid)) - cpu0).toFixed(2));
      console.log(`first: ${files} empty files got a line each: all stored in ${s.toFixed(2)} s, CPU ${cpuS} s`);
      console.log(`BENCH_JSON ${JSON.stringify({ bench: 'file-state', mode, files, seconds: Number(s.toFixed(2)), cpuS })}`);
    } finally {
      await gw.stop();
    }
  } else if (mode === 'start') {
    const total = files * lines;
    let gw = await startGatewayProcess(config, [], 600_000);
    await until('the first read', async () => (await records(gw)) >= total);
    await gw.stop();
    const rows = [];
    for (let run = 0; run < 3; run++) {
      const t0 = performance.now();
      gw = await startGatewayProcess(config, [], 600_000, nodeArgs);
      const started = (performance.now() - t0) / 1000;
      await until('every file tracked', async () => (await tracked(gw)) >= files);
      const all = (performance.now() - t0) / 1000;
      rows.push({ started: Number(started.toFixed(2)), tracked: Number(all.toFixed(2)), cpuS: await cpuSeconds(gw.proc.pid!) });
      await gw.stop();
      console.log(`restart ${run + 1}: started in ${started.toFixed(2)} s, ${files} files tracked in ${all.toFixed(2)} s, CPU ${rows[run]!.cpuS} s`);
    }
    console.log(`BENCH_JSON ${JSON.stringify({ bench: 'file-state', mode, files, lines, rows })}`);
  } else {
    const gw = await startGatewayProcess(config, [], 600_000, nodeArgs);
    gw.proc.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
    let stop = false;
    try {
      await until('every file tracked', async () => (await tracked(gw)) >= files);
      const pid = gw.proc.pid!;
      let line = 0;
      // one line per file per second, in 20 slices of 50 ms
      const writer = (async () => {
        while (!stop) {
          const t = performance.now();
          for (let slice = 0; slice < 20 && !stop; slice++) {
            const at = performance.now();
            const writes = [];
            for (let f = slice; f < files; f += 20) writes.push(appendFile(join(logs, `app-${f}.log`), `file ${f} line ${line} ${'x'.repeat(60)}\n`));
            await Promise.all(writes);
            await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - at))));
          }
          line++;
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - t))));
        }
      })();
      // warm-up: 5 s, then the window
      await new Promise((r) => setTimeout(r, 5000));
      const [b0, c0, cpu0, r0] = [await io(pid), await commits(gw), await cpuSeconds(pid), await records(gw)];
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, n * 1000));
      const [b1, c1, cpu1, r1] = [await io(pid), await commits(gw), await cpuSeconds(pid), await records(gw)];
      const s = (performance.now() - t0) / 1000;
      stop = true;
      await writer;
      const row = {
        files,
        seconds: Number(s.toFixed(1)),
        linesPerS: Math.round((r1 - r0) / s),
        commitsPerS: Math.round((c1 - c0) / s),
        writeKBPerS: Math.round((b1 - b0) / s / 1024),
        writeKBPerCommit: Number(((b1 - b0) / Math.max(1, c1 - c0) / 1024).toFixed(1)),
        cpuPercent: Math.round(((cpu1 - cpu0) / s) * 100),
      };
      console.log(
        `steady: ${files} files, ${row.linesPerS} lines/s, ${row.commitsPerS} commits/s, wrote ${row.writeKBPerS} KB/s (${row.writeKBPerCommit} KB a commit), CPU ${row.cpuPercent}% of a core`,
      );
      console.log(`BENCH_JSON ${JSON.stringify({ bench: 'file-state', mode, row })}`);
    } catch (err) {
      console.error(gw.logs.slice(-5), gw.proc.exitCode, gw.proc.signalCode);
      throw err;
    } finally {
      stop = true;
      await gw.stop();
    }
  }
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
}
