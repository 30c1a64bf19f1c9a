// `gatehouse simulate serial|mqtt`: play a serial device or a fleet of MQTT devices.
import { writeLine, type CliIO } from './io.js';

const USAGE = `usage: gatehouse simulate serial --port PATH --rate N --framing line|cobs|slip|crc --codec json|csv|kv|struct [--ack] [--garbage RATE] [--count N]
       gatehouse simulate mqtt --url mqtt://127.0.0.1:1883 --devices N --rate R [--qos 1] [--duration 10s] [--payload-bytes 200]`;

export async function runSimulate(argv: string[], io: CliIO): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind === 'serial') return (await import('./simulate-serial.js')).runSimulateSerial(rest, io);
  if (kind === 'mqtt') return (await import('./simulate-mqtt.js')).runSimulateMqtt(rest, io);
  writeLine(kind === '--help' || kind === '-h' ? io.stdout : io.stderr, USAGE);
  return kind === '--help' || kind === '-h' ? 0 : 2;
}
