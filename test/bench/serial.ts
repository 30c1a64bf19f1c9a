// Serial link throughput over a socat pty pair: frames/s through one link for line/JSON and
// COBS/binary-struct, CPU per 1,000 frames/s, and the theoretical wire limit per baud rate
// (ptys ignore the baud rate, so the measured figure is the software ceiling).
// Run: node --import tsx test/bench/serial.ts   (figures are noisy on a shared machine)
import type { TestContext } from 'node:test';
import { SerialPort } from 'serialport';
import { hangUpAware } from '../../core/serial-binding.js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { createCodec } from '../../firmware-bridge/codecs/index.js';
import { createFraming } from '../../firmware-bridge/framing/index.js';
import { simReading, simulatorLinkOptions, type SimCodec, type SimFraming } from '../../firmware-bridge/simulator.js';
import type { CodecOptions, FramingOptions } from '../../firmware-bridge/options.js';
import { startSocat } from '../helpers/socat.js';
import { which } from '../helpers/index.js';

interface Row {
  profile: string;
  baud: number;
  frameBytes: number;
  wireLimit: number;
  measured: number;
  cpuPct1k: number;
}

async function run(framing: SimFraming, codec: SimCodec, baud: number, n: number): Promise<Row> {
  const cleanups: Array<() => unknown> = [];
  // startSocat only needs t.after for cleanup; the bench runs it outside node:test.
  const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
  const pair = await startSocat(ctx);
  const opts = simulatorLinkOptions('bench', pair.dev1, framing, codec);
  let got = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const link = createSerialLink(
    { ...opts, baudRate: baud },
    {
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      onMessage: () => {
        if (++got === n) resolveAll();
        return undefined;
      },
    },
  );
  await link.start();
  // Pre-encode the frames so the writer side costs little CPU.
  const f = createFraming(opts.framing as FramingOptions);
  const c = createCodec(opts.codec as CodecOptions);
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) frames.push(f.encode(c.encode(simReading('sim-1', i, codec))));
  const wire = Buffer.concat(frames);
  const dev = new SerialPort(hangUpAware({ path: pair.dev0, baudRate: baud, autoOpen: false }));
  await new Promise<void>((r, j) => dev.open((e) => (e ? j(e) : r())));
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < wire.length; i += 16384) {
    if (!dev.write(wire.subarray(i, i + 16384))) await new Promise((r) => dev.once('drain', r));
  }
  const timeout = setTimeout(() => resolveAll(), 20000);
  await all;
  clearTimeout(timeout);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  await link.stop();
  await new Promise<void>((r) => dev.close(() => r()));
  for (const fn of cleanups.reverse()) await fn();
  const frameBytes = wire.length / n;
  return {
    profile: `${framing}/${codec}`,
    baud,
    frameBytes,
    wireLimit: baud / 10 / frameBytes, // 8N1: 10 bits per byte
    measured: got / secs,
    cpuPct1k: (cpuSecs / got) * 1000 * 100, // % of one core to sustain 1,000 frames/s
  };
}

async function main(): Promise<void> {
  if (!which('socat')) {
    console.log('serial bench skipped: needs socat (apt-get install socat)');
    return;
  }
  const rows: Row[] = [];
  for (const baud of [115200, 921600]) {
    rows.push(await run('line', 'json', baud, 20000));
    rows.push(await run('cobs', 'struct', baud, 40000));
  }
  console.log('serial link throughput over a pty pair (ptys ignore baud: "measured" is the software ceiling)');
  console.log('profile        baud     bytes/frame  wire limit f/s  measured f/s  CPU % of a core per 1k f/s');
  for (const r of rows) {
    console.log(
      `${r.profile.padEnd(14)} ${String(r.baud).padEnd(8)} ${r.frameBytes.toFixed(1).padStart(11)}  ${r.wireLimit.toFixed(0).padStart(14)}  ${r.measured.toFixed(0).padStart(12)}  ${r.cpuPct1k.toFixed(2).padStart(8)}`,
    );
  }
}

await main();
