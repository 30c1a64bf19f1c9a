// The chaos bench's MQTT upstream (`--upstream mqtt`, chaos-upstreams.ts): the gateway's `mqtt`
// destination (the MQTT bridge: QoS 1 publishes, a batch done when every PUBACK came) sends to
// Debian's mosquitto, as it would to AWS IoT Core or a site broker. A checker in this process (an
// mqtt.js client subscribed at QoS 1 to `up/#` with a persistent session, clean: false) counts
// every message's payload. mosquitto keeps the checker's session and what is queued for it across
// its clean restarts (persistence, saved every second and at SIGTERM), and queues without a bound
// (max_queued_messages 0, max_inflight_messages 0, max_queued_bytes 0: mosquitto.conf(5)), so the
// broker itself drops nothing the checker is owed. The four modes:
//   ok     running;
//   flaky  running, but restarted cleanly (SIGTERM: the persistence file is written; started again
//          on the same port after 0-1 s) every 2-6 s, and now and then (a quarter of the ticks)
//          a client takes over the gateway's client id (the broker drops the bridge's connection),
//          holds it 0.2-2 s and goes;
//   stall  mosquitto frozen (SIGSTOP; SIGCONT when the mode changes): the bridge's PUBLISHes sit in
//          the socket, no PUBACK comes, keepalive and CONNECT time out;
//   down   stopped cleanly (SIGTERM), started again when the mode changes.
// Never kill -9: mosquitto would lose what it had PUBACKed and not saved yet (its loss, not ours).
// The MQTT destination never sends up what an MQTT source brought down (loop prevention,
// docs/destinations.md): the chaos cloud leg cannot reach this upstream (dropsBridged).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort, which } from '../helpers/index.js';
import { mosquittoConfig } from '../helpers/peers.js';
import { TalliedSink, type ChaosKey, type ChaosSink, type UpstreamMode } from './chaos-upstream.js';
import { sleep } from './chaos-load.js';
import { portOpen } from '../helpers/peers.js';

/** The bridge's client id: the one a takeover connects with. */
const BRIDGE_CLIENT_ID = 'gh-chaos-up';
/** What the checker subscribes to: every topic the bridge and the rule actions publish to. */
const PREFIX = 'up/';

export class MqttUpstream extends TalliedSink implements ChaosSink {
  readonly kind = 'mqtt';
  readonly dropsBridged = true;
  mode: UpstreamMode = 'ok';
  /** Clean restarts (flaky), freezes (stall), clean stops (down), takeovers of the bridge's client id. */
  restarts = 0;
  freezes = 0;
  stops = 0;
  takeovers = 0;
  /** Takeovers whose CONNACK did not come (the broker restarting). */
  takeoversFailed = 0;
  checkerConnects = 0;
  private child: ChildProcess | undefined;
  private frozen = false;
  private checker: mqtt.MqttClient | undefined;
  /** Mode changes, flaky restarts and takeovers, one at a time. */
  private chain: Promise<void> = Promise.resolve();
  private flakyTimer: NodeJS.Timeout | undefined;
  /** Bumped at each mode change: a flaky tick queued before it does nothing. */
  private gen = 0;

  private constructor(
    capacities: Partial<Record<ChaosKey, number>>,
    private readonly rnd: () => number,
    private readonly bin: string,
    private readonly conf: string,
    private readonly logFile: string,
    readonly port: number,
  ) {
    super(capacities);
  }

  /** Why it cannot be made (mosquitto not installed), or the upstream, not started. */
  static async create(capacities: Partial<Record<ChaosKey, number>>, rnd: () => number, dir: string): Promise<MqttUpstream | string> {
    const bin = which('mosquitto') ?? which('/usr/sbin/mosquitto');
    if (!bin) return 'mosquitto is not installed (Debian package mosquitto): --upstream mqtt needs it';
    const home = join(dir, 'mosquitto');
    await mkdir(home, { recursive: true });
    const port = await freePort();
    const conf = join(home, 'mosquitto.conf');
    // No bound on what is queued or in flight for the checker: a bound drops messages silently.
    // max_inflight_messages 0 also leaves out the Receive Maximum of the bridge's CONNACK.
    const extra = ['max_inflight_messages 0', 'max_queued_bytes 0', 'log_type warning', 'log_timestamp_format %H:%M:%S', ''];
    await writeFile(conf, mosquittoConfig(port, home, 0) + extra.join('\n'));
    return new MqttUpstream(capacities, rnd, bin, conf, join(home, 'mosquitto.log'), port);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  destination(): Record<string, unknown> {
    return { type: 'mqtt', ...this.bridgeOptions() };
  }

  private bridgeOptions(): Record<string, unknown> {
    return {
      url: this.url,
      clientId: BRIDGE_CLIENT_ID,
      topics: [{ local: '#', remotePrefix: PREFIX }],
      // As short as the http upstream's 2 s: a frozen broker is found out within seconds.
      ackTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      keepaliveSec: 5,
      reconnectMinMs: 100,
      reconnectMaxMs: 2000,
    };
  }

  /**
   * An `mqtt` action whose remote topics (`up/a<n>/...`, under what the checker reads) and client id
   * change with the version: a new local stream per version (its name hashes the options), and each
   * version's exporter its own session (two exporters on one client id would take it from each other).
   */
  action(n: number): Record<string, unknown> {
    return {
      mqtt: {
        ...this.bridgeOptions(),
        clientId: `gh-chaos-act-${n}`,
        topics: [{ local: '#', remotePrefix: `${PREFIX}a${n}/` }],
        exporter: { batch: { maxRecords: 500, lingerMs: 50 }, backoff: { initialMs: 100, maxMs: 2000 } },
      },
    };
  }

  describe(): string {
    return (
      `upstream (mosquitto, MQTT bridge QoS 1): ${this.records} messages read by the checker, ${this.tally.unparsable} unparsable; ` +
      `${this.restarts} clean restarts (flaky), ${this.takeovers} takeovers of '${BRIDGE_CLIENT_ID}' (${this.takeoversFailed} not accepted), ` +
      `${this.freezes} freezes (SIGSTOP), ${this.stops} stops (down); checker connected ${this.checkerConnects} times`
    );
  }

  /** The broker running and the checker subscribed (its session then holds the subscription). */
  async up(): Promise<void> {
    await this.serial(async () => {
      await this.resume();
      await this.startBroker();
    });
    if (this.checker) return;
    const c = mqtt.connect(this.url, {
      clientId: 'chaos-checker',
      clean: false,
      protocolVersion: 4,
      keepalive: 10,
      reconnectPeriod: 250,
      connectTimeout: 3000,
    });
    this.checker = c;
    c.on('connect', () => this.checkerConnects++);
    c.on('message', (_topic, payload) => this.tally.add(payload.toString('utf8')));
    // Refused connections while the broker is down: it reconnects by itself.
    c.on('error', () => undefined);
    await new Promise<void>((r) => c.once('connect', () => r()));
    await c.subscribeAsync(`${PREFIX}#`, { qos: 1 });
  }

  async down(): Promise<void> {
    this.gen++;
    clearTimeout(this.flakyTimer);
    const c = this.checker;
    this.checker = undefined;
    await c?.endAsync(true);
    await this.serial(async () => {
      await this.resume();
      await this.stopBroker();
    });
  }

  async setMode(mode: UpstreamMode): Promise<void> {
    const gen = ++this.gen;
    clearTimeout(this.flakyTimer);
    await this.serial(async () => {
      await this.resume();
      if (mode === 'down') {
        if (this.child) this.stops++;
        await this.stopBroker();
      } else await this.startBroker();
      if (mode === 'stall' && this.child) {
        this.child.kill('SIGSTOP');
        this.frozen = true;
        this.freezes++;
      }
      this.mode = mode;
      if (mode === 'flaky') this.scheduleFlaky(gen);
    });
  }

  /** Until the checker is connected (it reconnects by itself after a restart), at most 10 s. */
  async collect(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.checker && !this.checker.connected && Date.now() < deadline) await sleep(100);
  }

  private scheduleFlaky(gen: number): void {
    this.flakyTimer = setTimeout(
      () =>
        void this.serial(async () => {
          if (gen !== this.gen || this.mode !== 'flaky') return;
          if (this.rnd() < 0.25) await this.takeover();
          else {
            await this.stopBroker();
            await sleep(Math.floor(this.rnd() * 1000));
            await this.startBroker();
            this.restarts++;
          }
          if (gen === this.gen && this.mode === 'flaky') this.scheduleFlaky(gen);
        }),
      2000 + this.rnd() * 4000,
    );
  }

  /**
   * A second client connects with the bridge's client id, as a cloned SD card would (MQTT 5, a kept
   * session): the broker drops the bridge's connection. It holds the session 0.2-2 s, then goes
   * without a DISCONNECT, and the bridge takes the session back at its next reconnect.
   */
  private async takeover(): Promise<void> {
    const c = mqtt.connect(this.url, {
      clientId: BRIDGE_CLIENT_ID,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 86_400 },
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    c.on('error', () => undefined);
    const connected = await new Promise<boolean>((resolve) => {
      c.once('connect', () => resolve(true));
      c.once('close', () => resolve(false));
      setTimeout(() => resolve(false), 3000);
    });
    if (connected) {
      this.takeovers++;
      await sleep(200 + Math.floor(this.rnd() * 1800));
    } else this.takeoversFailed++;
    await c.endAsync(true);
  }

  /** One broker operation at a time (a flaky restart never overlaps a mode change). */
  private serial(f: () => Promise<void>): Promise<void> {
    const p = this.chain.then(f);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async resume(): Promise<void> {
    if (!this.frozen) return;
    this.frozen = false;
    this.child?.kill('SIGCONT');
  }

  private async startBroker(): Promise<void> {
    if (this.child) return;
    const log = openSync(this.logFile, 'a');
    const c = spawn(this.bin, ['-c', this.conf], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = c;
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start (exit ${c.exitCode}; see ${this.logFile})`);
      await sleep(20);
    }
  }

  /** A clean stop: mosquitto writes its persistence file (sessions, queued messages) at SIGTERM. */
  private async stopBroker(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  }
}
