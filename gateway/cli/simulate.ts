// `gatehouse simulate serial|mqtt`: play a serial device or a fleet of MQTT devices.
import { writeLine, type CliIO } from './io.js';

const USAGE = `usage: gatehouse simulate serial --port PATH --rate N --framing line|cobs|slip|crc --codec json|csv|kv|struct [--ack [--ack-timeout 1000]] [--garbage RATE] [--count N] [--device-id sim-1] [--baud 115200]
       gatehouse simulate mqtt --url mqtt://127.0.0.1:1883 --devices N --rate R [--qos 1] [--duration 10s | --count N] [--payload-bytes 200] [--topic 'fleet/{device}/engine'] [--username U --password P] [--nagle]
       gatehouse simulate serial|mqtt --help: every option`;

export async function runSimulate(argv: string[], io: CliIO): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind === 'serial') return (await import('./simulate-serial.js')).runSimulateSerial(rest, io);
  if (kind === 'mqtt') return (await import('./simulate-mqtt.js')).runSimulateMqtt(rest, io);
  writeLine(kind === '--help' || kind === '-h' ? io.stdout : io.stderr, USAGE);
  return kind === '--help' || kind === '-h' ? 0 : 2;
}
