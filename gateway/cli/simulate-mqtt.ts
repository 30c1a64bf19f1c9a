// `gatehouse simulate mqtt`: play a fleet of MQTT devices and print a summary. The fleet itself is
// gateway/simulate/mqtt-fleet.ts (also the benchmarks' load generator); this is its command line.
import { parseArgs } from 'node:util';
import { GatehouseError, errorMessage } from '../../core/errors.js';
import { runMqttFleet, type MqttFleetOptions } from '../simulate/mqtt-fleet.js';
import type { CliIO } from './io.js';

const HELP = `usage: gatehouse simulate mqtt [options]

Play a fleet of MQTT devices publishing JSON telemetry, then print a summary.

Options:
  --url URL             broker URL (default mqtt://127.0.0.1:1883; mqtts:// for TLS)
  --devices N           simulated devices, one connection each (default 10)
  --rate R              messages per second per device; 0 = as fast as possible (default 1)
  --qos 0|1             QoS of the publishes (default 0)
  --duration D          how long to run: 10s, 500ms, 2m (default 10s)
  --count N             stop after N messages in total instead
  --payload-bytes N     payload size (default 200)
  --topic TEMPLATE      topic, {device} is the device name (default fleet/{device}/engine)
  --username U          user name
  --password P          password
  --nagle               keep Nagle's algorithm on the devices' sockets (default: TCP_NODELAY,
                        see docs/broker.md "Latency and Nagle")
  -h, --help            show this help

Measured: for QoS 1, acked = PUBACKs and latency = publish to PUBACK; for QoS 0, acked =
publishes written to the socket (not delivery). Errors: the first one, and connections the broker
closed, are named on stderr (exit 1). Ctrl-C ends the run early with the summary of
what was sent, also while the devices connect (a silent broker is not waited out).
`;

/** '10s' | '500ms' | '2m' | '10' (seconds) -> milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) return undefined;
  const v = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(v * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

function intArg(v: string | undefined, name: string, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new GatehouseError('GH_ARG_INVALID', `--${name} must be an integer >= ${min}, got '${v}'`, { where: `--${name}`, hint: 'see --help' });
  }
  return n;
}

export async function runSimulateMqtt(argv: string[], io: CliIO): Promise<number> {
  let opts: MqttFleetOptions;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        devices: { type: 'string' },
        rate: { type: 'string' },
        qos: { type: 'string' },
        duration: { type: 'string' },
        count: { type: 'string' },
        'payload-bytes': { type: 'string' },
        topic: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        nagle: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const qos = intArg(values.qos, 'qos', 0, 0);
    if (qos > 1) throw new GatehouseError('GH_ARG_INVALID', `--qos must be 0 or 1, got ${qos}`, { where: '--qos', hint: 'see --help' });
    const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration);
    if (values.duration !== undefined && durationMs === undefined) {
      throw new GatehouseError('GH_ARG_INVALID', `--duration '${values.duration}' is not a duration`, { where: '--duration', hint: 'use 10s, 500ms or 2m' });
    }
    opts = {
      url: values.url!,
      devices: intArg(values.devices, 'devices', 10, 1),
      ratePerDevice: intArg(values.rate, 'rate', 1, 0),
      qos: qos as 0 | 1,
      payloadBytes: intArg(values['payload-bytes'], 'payload-bytes', 200, 1),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(values.count !== undefined ? { count: intArg(values.count, 'count', 0, 1) } : {}),
      ...(values.topic !== undefined ? { topicTemplate: values.topic } : {}),
      ...(values.username !== undefined ? { username: values.username } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
      ...(values.nagle ? { noDelay: false } : {}),
    };
  } catch (err) {
    // node's parseArgs throws a plain TypeError (an unknown option, a value missing): an argument error all the same.
    const e = err instanceof GatehouseError ? err : new GatehouseError('GH_ARG_INVALID', errorMessage(err), { hint: 'see --help' });
    io.stderr.write(`gatehouse simulate: ${e.describe()}\n\n${HELP}`);
    return 2;
  }
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    io.stdout.write(
      `simulating ${opts.devices} devices at ${opts.ratePerDevice || 'max'} msg/s each, QoS ${opts.qos}, ${opts.payloadBytes} B -> ${opts.url}\n`,
    );
    const r = await runMqttFleet({ ...opts, signal: ac.signal });
    io.stdout.write(
      `sent ${r.sent}, acked ${r.acked}, errors ${r.errors} in ${(r.elapsedMs / 1000).toFixed(2)} s: ${r.msgsPerSec} msgs/s, ` +
        `latency p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, max ${r.latencyMs.max.toFixed(2)} ms\n`,
    );
    // what went wrong, or the summary's counts are all a user has to go on
    if (r.closedByBroker > 0) {
      io.stderr.write(
        `gatehouse simulate: the broker closed ${r.closedByBroker} device connection(s) before the run ended: ` +
          'an MQTT 3.1.1 broker does so for a publish it refuses (a full stream or disk, a topic outside the ACL, a payload too large); its log says which\n',
      );
    }
    if (r.firstError !== undefined) io.stderr.write(`gatehouse simulate: first error: ${r.firstError}\n`);
    return r.errors > 0 || r.acked < r.sent ? 1 : 0;
  } catch (err) {
    io.stderr.write(`gatehouse simulate: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
