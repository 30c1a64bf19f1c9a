// A fleet of simulated MQTT devices (real mqtt.js clients): demos, tests and the load generator
// of the benchmarks. Its command line, `gatehouse simulate mqtt`, is gateway/cli/simulate-mqtt.ts.
//
// What is measured: `sent` counts publish calls; `acked` counts PUBACKs for QoS 1 and, for QoS 0,
// publishes written to the socket (mqtt.js calls back after the write: the broker may still drop
// them). latencyMs is publish-call-to-PUBACK for QoS 1 and call-to-written for QoS 0.
// msgsPerSec = acked / seconds from the first publish to the last ack.
import { performance } from 'node:perf_hooks';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ERRORS, errorMessage } from '../../core/errors.js';
import { withWsBrackets } from '../../core/mqtt-client.js';

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
  /**
   * TCP_NODELAY on each device's socket (default true). With Nagle's algorithm on, a device that
   * publishes again before the broker's PUBACK of its last publish holds the new PUBLISH until
   * the broker's TCP ACK, which Linux delays until the broker sends something: the PUBACK, i.e.
   * after the commit. Each publish then waits one extra commit (PUBACK p50 16.9 ms instead of
   * 7.6 ms at 5,000 msgs/s from 10 devices: docs/broker.md "Latency and Nagle").
   */
  noDelay?: boolean;
  /**
   * Told of every acknowledged publish: device index, its seq, and performance.now() of the
   * publish call and of its PUBACK callback (test/bench/stages.ts: each message's latency by stage).
   */
  trace?: (device: number, seq: number, sentAt: number, ackedAt: number) => void;
}

export interface MqttFleetResult {
  sent: number;
  acked: number;
  errors: number;
  /** The first error a device met (a refused publish, its connection closed), with its device. */
  firstError?: string;
  /** Devices whose connection the broker closed before the run ended them. */
  closedByBroker: number;
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

/** How long a device waits for its outstanding PUBACKs once the run is over, before giving up on them. */
const DRAIN_MS = 10_000;

/** How long a device waits for its CONNACK. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * One device's connection (mqtt.connectAsync's outcomes), or undefined when `signal` aborts first:
 * a Ctrl-C while a broker is slow or silent ends the connect there instead of after the connect
 * timeout, device after device.
 */
function connectDevice(url: string, options: IClientOptions, signal: AbortSignal | undefined): Promise<MqttClient | undefined> {
  if (signal?.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    // (ws://[fd00::1]:8080: core/mqtt-client.ts)
    const c = mqtt.connect(url, withWsBrackets(options));
    const settle = (): void => {
      c.off('connect', onConnect);
      c.off('end', onConnect);
      c.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = (): void => {
      settle();
      resolve(c);
    };
    const onError = (err: Error): void => {
      settle();
      c.end(true);
      reject(err);
    };
    const onAbort = (): void => {
      settle();
      c.on('error', () => undefined); // dropped: a late socket error is nobody's
      c.end(true);
      resolve(undefined);
    };
    c.on('connect', onConnect);
    c.on('end', onConnect);
    c.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

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
  let firstError: string | undefined;
  let closedByBroker = 0;
  const noteError = (device: string, err: unknown): void => {
    errors++;
    firstError ??= `${device}: ${errorMessage(err)}`;
  };
  let lastAck = 0;

  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < devices; i++) {
      const c = await connectDevice(
        opts.url,
        {
          clientId: `${prefix}-${i}`,
          reconnectPeriod: 0,
          connectTimeout: CONNECT_TIMEOUT_MS,
          ...(opts.protocolVersion !== undefined ? { protocolVersion: opts.protocolVersion } : {}),
          ...(opts.username !== undefined ? { username: opts.username } : {}),
          ...(opts.password !== undefined ? { password: opts.password } : {}),
        },
        opts.signal,
      );
      // Aborted (Ctrl-C) while connecting: the devices connected so far run nothing (stopped()).
      if (!c) break;
      const device = `${prefix}-${i}`;
      c.on('error', (err) => noteError(device, err));
      if (opts.noDelay !== false) (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      clients.push(c);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    // Not an argument error: the URL may be right and the broker down (it said GH_ARG_INVALID).
    throw ERRORS.GH_PEER_UNREACHABLE({ url: opts.url, reason: `simulated device ${clients.length}: ${errorMessage(err)}` }, { where: '--url' });
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
      let drainTimer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (!finished && inflight === 0) {
          finished = true;
          clearTimeout(drainTimer);
          resolve();
        }
      };
      // A broker that withholds PUBACKs (a full stream, a full disk) must not keep the run going:
      // once it is over, the outstanding publishes get DRAIN_MS, then count as not acked.
      const drain = (): void => {
        drainTimer ??= setTimeout(() => {
          inflight = 0;
          finish();
        }, DRAIN_MS);
        finish();
      };
      const publishOne = (): void => {
        const t0 = performance.now();
        const n = seq++;
        inflight++;
        sent++;
        c.publish(topic, fleetPayload(payloadBytes, n, Date.now()), { qos: opts.qos }, (err) => {
          inflight--;
          if (err) noteError(`${prefix}-${i}`, err);
          else {
            acked++;
            lastAck = performance.now();
            hist.record(lastAck - t0);
            opts.trace?.(i, n, t0, lastAck);
          }
          if (finished) return;
          if (rate === 0) pump();
          else if (stopping) drain();
        });
      };
      let stopping = false;
      // a dropped connection ends this device (its unacknowledged publishes count as not acked)
      c.once('close', () => {
        if (!finished) closedByBroker++;
        stopping = true;
        inflight = 0;
        finish();
      });
      // as fast as possible: keep `window` publishes outstanding
      const pump = (): void => {
        while (inflight < window && seq < perDevice && !stopped() && c.connected) publishOne();
        if (inflight === 0 || stopped() || seq >= perDevice || !c.connected) drain();
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
          drain();
          return;
        }
        const due = Math.min(perDevice, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
        // bound the catch-up burst to the window, so a stalled broker does not get a flood
        while (seq < due && inflight < window * 4) publishOne();
      }, tickMs);
    });

  await Promise.all(clients.map((c, i) => runDevice(c, i)));
  const end = lastAck || performance.now();
  // Forced: a graceful end waits for the PUBACKs still outstanding, which a broker that closed the
  // connection or withholds them never sends (the run would hang with no summary).
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  const elapsedMs = Math.max(1, end - start);
  return {
    sent,
    acked,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    closedByBroker,
    elapsedMs,
    msgsPerSec: Math.round((acked * 1000) / elapsedMs),
    latencyMs: { p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max },
  };
}
