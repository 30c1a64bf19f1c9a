// `gatehouse simulate serial`: play a device on a serial port. The device itself is
// firmware-bridge/simulator.ts (also used by tests and benchmarks); this is its command line.
import { parseArgs } from 'node:util';
import { createSimulatedDevice, type SimCodec, type SimFraming } from '../../firmware-bridge/simulator.js';
import type { CliIO } from './io.js';

const HELP = `usage: gatehouse simulate serial --port PATH [options]

Play a device on a serial port (a socat pty end, a USB-serial adapter, ...).

Options:
  --port PATH          serial device path (required)
  --rate N             readings per second (default 1)
  --framing F          line | cobs | slip | crc (default line)
  --codec C            json | csv | kv | struct (default json)
  --ack                acknowledged mode: keep unacked readings and resend them
  --ack-timeout MS     resend an unacked reading after MS (default 1000)
  --garbage RATE       probability 0..1 per reading of injecting a broken frame (default 0)
  --count N            stop after N readings (all acknowledged in --ack mode)
  --device-id ID       deviceId field (default sim-1)
  --baud N             baud rate (default 115200)
  --help               this text

Received downlink commands are printed to stdout, one JSON line each.
`;

export async function runSimulateSerial(argv: string[], io: CliIO): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        rate: { type: 'string', default: '1' },
        framing: { type: 'string', default: 'line' },
        codec: { type: 'string', default: 'json' },
        ack: { type: 'boolean', default: false },
        'ack-timeout': { type: 'string', default: '1000' },
        garbage: { type: 'string', default: '0' },
        count: { type: 'string' },
        'device-id': { type: 'string', default: 'sim-1' },
        baud: { type: 'string', default: '115200' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    io.stderr.write(`gatehouse simulate: GH_ARG_INVALID: ${(err as Error).message}. Fix: see --help\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const bad = (msg: string): number => {
    io.stderr.write(`gatehouse simulate: GH_ARG_INVALID: ${msg}. Fix: see --help\n`);
    return 2;
  };
  const port = values.port as string | undefined;
  if (!port) return bad('--port is required');
  const rate = Number(values.rate);
  if (!(rate > 0 && Number.isFinite(rate))) return bad('--rate must be a positive number');
  const framing = values.framing as SimFraming;
  if (!['line', 'cobs', 'slip', 'crc'].includes(framing)) return bad('--framing must be line, cobs, slip or crc');
  const codec = values.codec as SimCodec;
  if (!['json', 'csv', 'kv', 'struct'].includes(codec)) return bad('--codec must be json, csv, kv or struct');
  if (codec === 'struct' && framing === 'line') return bad('--codec struct needs a binary framing (cobs, slip or crc)');
  const garbage = Number(values.garbage);
  if (!(garbage >= 0 && garbage <= 1)) return bad('--garbage must be between 0 and 1');
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) return bad('--count must be a positive integer');
  // Refused, not replaced by the default: a typo must not run at another speed than asked for.
  const ackTimeoutMs = Number(values['ack-timeout']);
  if (!(Number.isInteger(ackTimeoutMs) && ackTimeoutMs > 0))
    return bad(`--ack-timeout must be a positive integer (milliseconds), got '${values['ack-timeout']}'`);
  const baudRate = Number(values.baud);
  if (!(Number.isInteger(baudRate) && baudRate > 0)) return bad(`--baud must be a positive integer, got '${values.baud}'`);
  const dev = createSimulatedDevice({
    path: port,
    rate,
    framing,
    codec,
    ack: values.ack === true,
    garbage,
    count,
    ackTimeoutMs,
    deviceId: values['device-id'] as string,
    baudRate,
    onCommand: (cmd) => io.stdout.write(`command ${Buffer.isBuffer(cmd) ? JSON.stringify(cmd.toString('utf8')) : JSON.stringify(cmd)}\n`),
    log: (line) => io.stderr.write(`${line}\n`),
  });
  await dev.start();
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<void>((resolve) => {
    onSignal = resolve;
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.race([dev.done, interrupted]);
  if (onSignal) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  await dev.stop();
  io.stdout.write(`${JSON.stringify({ simulator: dev.stats() })}\n`);
  return 0;
}
