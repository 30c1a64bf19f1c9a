// The chaos bench's NATS JetStream upstream (`--upstream nats`, test/bench/chaos.ts): Debian's
// nats-server run as a child process with JetStream, its file store in the run's upstream folder,
// a stream CHAOS (file storage, the default 2 min duplicate window) capturing `chaos.>`, where
// the gateway's `nats` destination publishes each record with an acknowledgement and Nats-Msg-Id.
// The four modes, on the server process itself:
//   ok     running;
//   flaky  running, but restarted cleanly (SIGTERM, then started again on the same port and
//          store) every 2-6 s while the mode lasts: connections dropped, publishes in flight unanswered;
//   stall  frozen with SIGSTOP (SIGCONT when the mode changes): the socket stays open, requests
//          are taken by the kernel and never answered until then (answered late, after the
//          gateway's ack timeout: a resend, dropped by JetStream's dedup or stored twice);
//   down   stopped: SIGTERM, or kill -9 one time in three (JetStream's file store writes what it
//          acknowledges to its block file before the ack, so a process kill, which keeps the page
//          cache, does not lose it: checked by hand on nats-server 2.9.10, 17,388 of 17,388).
// What was received is read back from the stream (collect(): an ordered consumer from the next
// sequence not read yet, kept between calls) and counted by the payload's text: the destination
// publishes the record's payload as is (the MQTT topic in a header), so a message's data is what
// the publisher sent.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Consumer, NatsConnection } from 'nats';
import { freePort, which } from '../helpers/index.js';
import { portOpen } from '../helpers/peers.js';
import { TalliedSink, type ChaosKey, type ChaosSink, type UpstreamMode } from './chaos-upstream.js';
import type { UpstreamParts } from './chaos-upstreams.js';
import { sleep } from './chaos-load.js';

/** The JetStream stream (`stream` of the destination, `jetStream` of a rule action). */
const STREAM = 'CHAOS';
/** Every subject the gateway publishes to: `chaos.<local stream>`, `chaos.v<n>.<local stream>` for actions. */
const SUBJECTS = ['chaos.>'];

export class ChaosNats extends TalliedSink implements ChaosSink {
  readonly kind = 'nats';
  mode: UpstreamMode = 'ok';
  /** Clean restarts while flaky, freezes (stall), stops (down) by SIGTERM and by kill -9. */
  restarts = 0;
  freezes = 0;
  terms = 0;
  kills = 0;
  /** Failed reads of the stream (retried at the next collect()), and the last one's error. */
  readErrors = 0;
  lastReadError = '';
  private child: ChildProcess | undefined;
  private frozen = false;
  private stderr = '';
  private flakyTimer: NodeJS.Timeout | undefined;
  /** Process changes (modes, the flaky restarts) one at a time. */
  private chain: Promise<void> = Promise.resolve();
  private reader: NatsConnection | undefined;
  private consumer: Consumer | undefined;
  /** The next stream sequence to read. */
  private nextSeq = 1;
  private lastSeq = 0;
  private collecting: Promise<void> | undefined;
  private closed = false;
  /** Reads while the run goes on (the progress lines' count), every 10 s the server is healthy. */
  private readTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly bin: string,
    private readonly version: string,
    private readonly storeDir: string,
    readonly port: number,
    capacities: Partial<Record<ChaosKey, number>>,
    private readonly rnd: () => number,
  ) {
    super(capacities);
  }

  /** Up and healthy, with its stream; or why not (nats-server not installed, a failed start). */
  static async create(parts: UpstreamParts): Promise<ChaosNats | string> {
    const bin = which('nats-server') ?? which('/usr/sbin/nats-server');
    if (!bin) return 'nats-server is not installed (Debian package nats-server)';
    const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const storeDir = join(parts.dir, 'nats');
    await mkdir(storeDir, { recursive: true });
    const u = new ChaosNats(bin, version, storeDir, await freePort(), parts.capacities, parts.rnd);
    try {
      await u.start();
      const lib = await import('nats');
      u.reader = await lib.connect({ servers: `127.0.0.1:${u.port}`, name: 'chaos-reader', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      const jsm = await u.reader.jetstreamManager();
      await jsm.streams.add({ name: STREAM, subjects: SUBJECTS, storage: lib.StorageType.File });
      u.readTimer = setInterval(() => {
        if (u.mode === 'ok') void u.collect();
      }, 10_000);
    } catch (err) {
      await u.down();
      return `nats-server did not start with its stream: ${String(err)}`;
    }
    return u;
  }

  private get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  destination(): Record<string, unknown> {
    // The ack timeout as the http upstream's request timeout (2 s); reconnects every 0.5 s.
    return { type: 'nats', servers: this.url, subject: 'chaos.${stream}', stream: STREAM, ackTimeoutMs: 2000, reconnectWaitMs: 500 };
  }

  /** A `nats` action publishing to `chaos.v<n>.<local stream>`: other options, so a new local stream per version. */
  action(n: number): Record<string, unknown> {
    return {
      nats: {
        servers: this.url,
        subject: `chaos.v${n}.\${stream}`,
        jetStream: STREAM,
        ackTimeoutMs: 2000,
        reconnectWaitMs: 500,
        exporter: { batch: { maxRecords: 500, lingerMs: 50 }, backoff: { initialMs: 100, maxMs: 2000 } },
      },
    };
  }

  describe(): string {
    return (
      `upstream (NATS JetStream, ${this.version}): ${this.restarts} clean restarts (flaky), ${this.freezes} freezes (SIGSTOP), ` +
      `${this.terms + this.kills} stops (${this.terms} SIGTERM, ${this.kills} kill -9); stream ${STREAM} at sequence ${this.lastSeq}, ` +
      `${this.records} records read back, ${this.tally.unparsable} unparsable, ${this.readErrors} failed reads${this.lastReadError ? ` (last: ${this.lastReadError})` : ''}`
    );
  }

  setMode(mode: UpstreamMode): Promise<void> {
    return this.serially(async () => {
      if (this.closed) return;
      this.stopFlaky();
      if (this.frozen && mode !== 'stall') this.thaw();
      if (mode === 'down') {
        const kill9 = this.rnd() < 1 / 3;
        if (await this.stop(kill9)) {
          if (kill9) this.kills++;
          else this.terms++;
        }
      } else await this.start();
      if (mode === 'stall' && !this.frozen) {
        this.child?.kill('SIGSTOP');
        this.frozen = true;
        this.freezes++;
      }
      this.mode = mode;
      if (mode === 'flaky') this.scheduleRestart();
    });
  }

  up(): Promise<void> {
    return this.serially(() => this.start());
  }

  /** Stops everything for good: the flaky restarts, the reader, the server (chaos.ts calls it at the end). */
  async down(): Promise<void> {
    this.closed = true;
    this.stopFlaky();
    await this.collecting;
    await this.reader?.close().catch(() => undefined);
    this.reader = undefined;
    if (this.readTimer) clearInterval(this.readTimer);
    await this.serially(async () => {
      await this.stop(false);
    });
  }

  /** Reads the stream from the next sequence not read yet up to its last one now (a failure: the next call goes on). */
  collect(): Promise<void> {
    this.collecting ??= this.readNew().finally(() => {
      this.collecting = undefined;
    });
    return this.collecting;
  }

  private async readNew(): Promise<void> {
    const nc = this.reader;
    if (!nc || this.mode === 'stall' || this.mode === 'down') return;
    try {
      const lib = await import('nats');
      const info = await (await nc.jetstreamManager({ timeout: 3000 })).streams.info(STREAM);
      this.lastSeq = info.state.last_seq;
      while (this.nextSeq <= this.lastSeq) {
        this.consumer ??= await nc.jetstream({ timeout: 3000 }).consumers.get(STREAM, {
          deliver_policy: lib.DeliverPolicy.StartSequence,
          opt_start_seq: this.nextSeq,
        });
        const batch = await this.consumer.fetch({ max_messages: 10_000, expires: 2000 });
        let got = 0;
        for await (const m of batch) {
          if (m.seq < this.nextSeq) continue;
          this.tally.add(m.string());
          this.nextSeq = m.seq + 1;
          got++;
        }
        if (got === 0) {
          // Nothing in time where messages are: a consumer a server restart left behind; a new one next time.
          this.consumer = undefined;
          return;
        }
      }
    } catch (err) {
      this.readErrors++;
      this.lastReadError = String(err).slice(0, 200);
      this.consumer = undefined;
    }
  }

  private serially(f: () => Promise<void>): Promise<void> {
    const next = this.chain.then(f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private stopFlaky(): void {
    if (this.flakyTimer) clearTimeout(this.flakyTimer);
    this.flakyTimer = undefined;
  }

  /** While flaky: a clean restart in 2-6 s, then the next. */
  private scheduleRestart(): void {
    this.flakyTimer = setTimeout(
      () => {
        this.flakyTimer = undefined;
        void this.serially(async () => {
          if (this.mode !== 'flaky' || this.closed) return;
          await this.stop(false);
          await this.start();
          this.restarts++;
          this.scheduleRestart();
        });
      },
      2000 + this.rnd() * 4000,
    );
  }

  private thaw(): void {
    this.child?.kill('SIGCONT');
    this.frozen = false;
  }

  /** Starts the server (when it is not running) on its port and store; resolves once it accepts connections. */
  private async start(): Promise<void> {
    if (this.child) return;
    this.stderr = '';
    const c = spawn(this.bin, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = c;
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    const deadline = Date.now() + 15_000;
    while (!(await portOpen(this.port))) {
      if (c.exitCode !== null || c.signalCode !== null || Date.now() > deadline) {
        this.child = undefined;
        c.kill('SIGKILL');
        throw new Error(`nats-server did not start on ${this.port} (exit ${c.exitCode ?? c.signalCode}): ${this.stderr}`);
      }
      await sleep(20);
    }
  }

  /** Stops the server: SIGTERM (a clean shutdown, kill -9 after 10 s) or kill -9; false when it was not running. */
  private async stop(kill9: boolean): Promise<boolean> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return false;
    const exited = once(c, 'exit');
    // A frozen process handles SIGTERM only once it runs again.
    if (this.frozen) this.thaw();
    c.kill(kill9 ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    return true;
  }
}
