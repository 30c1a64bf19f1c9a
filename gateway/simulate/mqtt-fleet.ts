// A fleet of simulated MQTT devices (real mqtt.js clients): demos, tests and the load generator
// of the benchmarks. `gatehouse simulate mqtt` is runSimulateMqtt.
//
// What is measured: `sent` counts publish calls; `acked` counts PUBACKs for QoS 1 and, for QoS 0,
// publishes written to the socket (mqtt.js calls back after the write: the broker may still drop
// them). latencyMs is publish-call-to-PUBACK for QoS 1 and call-to-written for QoS 0.
// msgsPerSec = acked / seconds from the first publish to the last ack.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { GatehouseError, errorMessage } from '../../core/errors.js';

export interface MqttFleetOptions {
  url: string;
  devices: number;
  /** Messages per second per device; 0 = as fast as possible within a bounded in-flight window. */
  ratePerDevice?: number;
  qos: 0 | 1;
  /** Payload size in bytes (JSON padded with a "pad" field); default 200. */
  payloadBytes?: number;
  /** Stop after this long (default 10 s unless count is given). */
  durationMs?: number;
  /** Stop after this many messages in total (split evenly over the devices). */
  count?: number;
  /** '{device}' is replaced by the device name; default 'fleet/{device}/engine'. */
  topicTemplate?: string;
  username?: string;
  password?: string;
  signal?: AbortSignal;
  /** MQTT protocol of the simulated devices: 4 (3.1.1, default) or 5. */
  protocolVersion?: 4 | 5;
  /** Unacknowledged publishes per device when ratePerDevice is 0; default 64. */
  window?: number;
  /** Device name prefix (client ids are `${prefix}-${i}`); default 'sim'. */
  prefix?: string;
}

export interface MqttFleetResult {
  sent: number;
  acked: number;
  errors: number;
  msgsPerSec: number;
  elapsedMs: number;
  latencyMs: { p50: number; p99: number; max: number };
}

/**
 * Fixed-size latency histogram (no growth, no per-sample allocation): 10 µs buckets up to
 * 100 ms, then 1 ms buckets up to 60 s.
 */
class LatencyHistogram {
  private readonly fine = new Uint32Array(10_000);
  private readonly coarse = new Uint32Array(60_000);
  private n = 0;
  private maxMs = 0;
  record(ms: number): void {
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms < 100) this.fine[Math.floor(ms * 100)]!++;
    else this.coarse[Math.min(59_999, Math.floor(ms))]!++;
  }
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const target = Math.ceil(q * this.n);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i]!;
      if (seen >= target) return (i + 1) / 100;
    }
    for (let i = 100; i < this.coarse.length; i++) {
      seen += this.coarse[i]!;
      if (seen >= target) return i + 1;
    }
    return this.maxMs;
  }
  get max(): number {
    return this.maxMs;
  }
}

const PAD = 'x'.repeat(65_536);

/** A JSON telemetry payload padded to `bytes` (never shorter than the bare JSON). */
export function fleetPayload(bytes: number, seq: number, ts: number): string {
  const temp = (90 + (seq % 100) / 10).toFixed(1);
  const rpm = 2000 + (seq % 500);
  const head = `{"temp":${temp},"rpm":${rpm},"ts":${ts},"seq":${seq}`;
  const room = bytes - head.length - 10; // ,"pad":"" + }
  return room > 0 ? `${head},"pad":"${PAD.slice(0, Math.min(room, PAD.length))}"}` : `${head}}`;
}

export async function runMqttFleet(opts: MqttFleetOptions): Promise<MqttFleetResult> {
  const devices = opts.devices;
  const rate = opts.ratePerDevice ?? 0;
  const payloadBytes = opts.payloadBytes ?? 200;
  const template = opts.topicTemplate ?? 'fleet/{device}/engine';
  const window = Math.max(1, opts.window ?? 64);
  const prefix = opts.prefix ?? 'sim';
  const durationMs = opts.durationMs ?? (opts.count === undefined ? 10_000 : undefined);
  const perDevice = opts.count === undefined ? Infinity : Math.ceil(opts.count / devices);
  const hist = new LatencyHistogram();
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let lastAck = 0;

  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < devices; i++) {
      const c = await mqtt.connectAsync(opts.url, {
        clientId: `${prefix}-${i}`,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        ...(opts.protocolVersion !== undefined ? { protocolVersion: opts.protocolVersion } : {}),
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
      });
      c.on('error', () => errors++);
      clients.push(c);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    throw new GatehouseError('GH_ARG_INVALID', `cannot connect simulated device ${clients.length} to ${opts.url}: ${errorMessage(err)}`, {
      where: '--url',
      hint: 'check the broker is running, the URL and the credentials',
    });
  }

  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  const stopped = (): boolean => opts.signal?.aborted === true || performance.now() >= deadline;

  const runDevice = (c: MqttClient, i: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const topic = template.replaceAll('{device}', `${prefix}-${i}`);
      let seq = 0;
      let inflight = 0;
      let finished = false;
      const finish = (): void => {
        if (!finished && inflight === 0) {
          finished = true;
          resolve();
        }
      };
      const publishOne = (): void => {
        const t0 = performance.now();
        inflight++;
        sent++;
        c.publish(topic, fleetPayload(payloadBytes, seq++, Date.now()), { qos: opts.qos }, (err) => {
          inflight--;
          if (err) errors++;
          else {
            acked++;
            lastAck = performance.now();
            hist.record(lastAck - t0);
          }
          if (rate === 0) pump();
          else if (stopping) finish();
        });
      };
      let stopping = false;
      // a dropped connection ends this device (its unacknowledged publishes count as not acked)
      c.once('close', () => {
        stopping = true;
        inflight = 0;
        finish();
      });
      // as fast as possible: keep `window` publishes outstanding
      const pump = (): void => {
        while (inflight < window && seq < perDevice && !stopped() && c.connected) publishOne();
        if (inflight === 0) finish();
      };
      if (rate === 0) {
        pump();
        return;
      }
      // fixed rate: each tick publishes what is due since the start (catches up after a slow tick)
      const tickMs = Math.max(1, Math.min(100, 1000 / rate));
      const timer = setInterval(() => {
        if (stopped() || seq >= perDevice || !c.connected) {
          clearInterval(timer);
          stopping = true;
          finish();
          return;
        }
        const due = Math.min(perDevice, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
        // bound the catch-up burst to the window, so a stalled broker does not get a flood
        while (seq < due && inflight < window * 4) publishOne();
      }, tickMs);
    });

  await Promise.all(clients.map((c, i) => runDevice(c, i)));
  const end = lastAck || performance.now();
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  const elapsedMs = Math.max(1, end - start);
  return {
    sent,
    acked,
    errors,
    elapsedMs,
    msgsPerSec: Math.round((acked * 1000) / elapsedMs),
    latencyMs: { p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max },
  };
}

const HELP = `Usage: gatehouse simulate mqtt [options]

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
  -h, --help            show this help

Measured: for QoS 1, acked = PUBACKs and latency = publish to PUBACK; for QoS 0, acked =
publishes written to the socket (not delivery).
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
    throw new GatehouseError('GH_ARG_INVALID', `--${name} must be an integer >= ${min}, got '${v}'`, { where: `--${name}` });
  }
  return n;
}

export async function runSimulateMqtt(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
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
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    const qos = intArg(values.qos, 'qos', 0, 0);
    if (qos > 1) throw new GatehouseError('GH_ARG_INVALID', `--qos must be 0 or 1, got ${qos}`, { where: '--qos' });
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
    };
  } catch (err) {
    io.stderr.write(`${errorMessage(err)}\n\n${HELP}`);
    return 2;
  }
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    io.stdout.write(`simulating ${opts.devices} devices at ${opts.ratePerDevice || 'max'} msg/s each, QoS ${opts.qos}, ${opts.payloadBytes} B -> ${opts.url}\n`);
    const r = await runMqttFleet({ ...opts, signal: ac.signal });
    io.stdout.write(
      `sent ${r.sent}, acked ${r.acked}, errors ${r.errors} in ${(r.elapsedMs / 1000).toFixed(2)} s: ${r.msgsPerSec} msgs/s, ` +
        `latency p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, max ${r.latencyMs.max.toFixed(2)} ms\n`,
    );
    return r.errors > 0 || r.acked < r.sent ? 1 : 0;
  } catch (err) {
    io.stderr.write(`${errorMessage(err)}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
