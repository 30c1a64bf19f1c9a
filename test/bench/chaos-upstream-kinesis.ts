// The chaos bench's Kinesis upstream (`--upstream kinesis`, test/bench/chaos.ts): kinesalite (the
// devDependency) in a child process with LevelDB persistence under the run's folder, streams of 2
// shards, and in front of it a fault-injecting HTTP proxy that the gateway's kinesis destination
// calls. kinesalite never fails a call or a record by itself, so the proxy plays Kinesis's own
// failure modes (docs: PutRecords "Records ... correlated with the request by natural ordering",
// ErrorCode ProvisionedThroughputExceededException or InternalFailure, FailedRecordCount):
//   ok     every call forwarded, kinesalite's answer relayed;
//   flaky  a random 30% of the PutRecords calls fail: 60% of them partly (a random subset of the
//          records forwarded, the call answered 200 with FailedRecordCount and, per refused record,
//          ErrorCode/ErrorMessage, SequenceNumber/ShardId from kinesalite's answer for the others,
//          in the request's order; sometimes every record refused), 20% whole-call 400
//          ProvisionedThroughputExceededException, 20% whole-call 500 InternalFailure; and in half
//          the flaky phases one shard (of every stream) is failing: every call's records that hash
//          to it are refused with InternalFailure for the whole phase, the others stored;
//   stall  calls taken and never answered (half of them forwarded first: kinesalite stores the
//          records, the gateway times out and sends them again, a duplicate); the held sockets are
//          dropped when the mode changes;
//   down   the proxy not listening; half the times, kinesalite is also stopped and started again
//          meanwhile (its LevelDB keeps what it stored).
// The proxy is chaos-kinesis-proxy.ts. The per-call draws come from a generator of their own (seeded from the run's): how many calls a
// phase sees depends on timing, and must not shift the run's schedule of faults.
// What reached Kinesis is read back from kinesalite directly (not through the proxy): every shard
// of every stream from TRIM_HORIZON, every 2 s in the background (a shard iterator expires after
// 5 minutes) and at each collect(), counting each record's Data in a ChaosTally. The gateway's
// kinesis destination sends each record's payload as the Data (KPL aggregation is off by default,
// and destination() leaves it off), so the payload's id is read as it is.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetRecordsCommandOutput,
  KinesisClient,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { freePort } from '../helpers/index.js';
import { mulberry32 } from '../helpers/prng.js';
import { KinesisFaultProxy, SHARDS, shardName } from './chaos-kinesis-proxy.js';
import { TalliedSink, type ChaosKey, type ChaosSink, type UpstreamMode } from './chaos-upstream.js';

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'chaos', secretAccessKey: 'chaos' };
/** The exporter's stream `archive` goes to this Kinesis stream. */
const MAIN_STREAM = 'chaos';
/** --actions: the kinesis rule action of version n puts to chaos-(n % 8). */
const ACTION_STREAMS = 8;
const KINESALITE = createRequire(import.meta.url).resolve('kinesalite');

/** kinesalite on 127.0.0.1:port in a child process, its LevelDB at `path`; stopped with SIGKILL. */
class KinesaliteProcess {
  private proc: ChildProcess | undefined;
  /** Exits not asked for (a crash: restarted by the next start()). */
  crashes = 0;

  constructor(
    private readonly path: string,
    readonly port: number,
  ) {}

  get running(): boolean {
    return this.proc !== undefined;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    // Through its API rather than its cli.js: the CLI listens on every interface, this on loopback.
    // It ends when its stdin does: a bench that dies leaves no kinesalite behind.
    const script =
      'const [m, path, port] = process.argv.slice(1);' +
      'process.stdin.on("end", () => process.exit(0)).resume();' +
      "require(m)({ path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 }).listen(Number(port), '127.0.0.1', () => console.log('listening'));";
    const proc = spawn(process.execPath, ['-e', script, KINESALITE, this.path, String(this.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-2000)));
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (c: Buffer) => {
        if (c.toString('utf8').includes('listening')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`kinesalite exited (${code}) before listening: ${stderr}`)));
    });
    proc.once('exit', () => {
      if (this.proc === proc) {
        this.proc = undefined;
        this.crashes++;
      }
    });
    this.proc = proc;
    await ready;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }
}

export class KinesisChaosUpstream extends TalliedSink implements ChaosSink {
  readonly kind = 'kinesis';
  /** Flaky phases with a failing shard. */
  shardOutages = 0;
  kinesaliteRestarts = 0;
  readErrors = 0;
  private kinesalite: KinesaliteProcess | undefined;
  private client: KinesisClient | undefined;
  private readonly proxy: KinesisFaultProxy;
  private shards: Array<{ stream: string; shard: string; iterator: string | undefined; lastSeq: string | undefined }> = [];
  /** Records read per Kinesis stream. */
  private readonly perStream = new Map<string, number>();
  private reading: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    capacities: Partial<Record<ChaosKey, number>>,
    private readonly rnd: () => number,
    private readonly dir: string,
  ) {
    super(capacities);
    this.proxy = new KinesisFaultProxy(() => this.kinesalite!.port, mulberry32(Math.floor(rnd() * 2 ** 32)));
  }

  get mode(): UpstreamMode {
    return this.proxy.mode;
  }

  private get endpoint(): string {
    return `http://127.0.0.1:${this.proxy.port}`;
  }

  destination(): Record<string, unknown> {
    return { type: 'kinesis', streamName: MAIN_STREAM, region: REGION, endpoint: this.endpoint, ...CREDENTIALS, requestTimeoutMs: 2000 };
  }

  /**
   * A `kinesis` action to stream chaos-(n % 8). An action's local stream is named after a hash of
   * its destination options (gateway/pipeline/actions/upstream.ts), so each version needs options
   * of its own: maxRecords (records per PutRecords call, harmless) steps down every 8 versions, so
   * that version n+8 does not reuse version n's local stream.
   */
  action(n: number): Record<string, unknown> {
    return {
      kinesis: {
        streamName: `${MAIN_STREAM}-${n % ACTION_STREAMS}`,
        region: REGION,
        endpoint: this.endpoint,
        ...CREDENTIALS,
        requestTimeoutMs: 2000,
        maxRecords: Math.max(1, 500 - Math.floor(n / ACTION_STREAMS)),
        exporter: { batch: { maxRecords: 500, lingerMs: 50 }, backoff: { initialMs: 100, maxMs: 2000 } },
      },
    };
  }

  describe(): string {
    const p = this.proxy;
    return (
      `upstream (Kinesis: kinesalite behind a fault proxy): ${p.calls} PutRecords calls, ${p.partial} answered with per-record failures ` +
      `(${p.refusedThrottled} records ProvisionedThroughputExceededException, ${p.refusedInternal} InternalFailure), ` +
      `${this.shardOutages} flaky phases with a failing shard (${p.refusedShard} records refused InternalFailure for it), ` +
      `${p.whole400} whole-call 400 throttles, ${p.whole500} whole-call 500s, ${p.stalled} stalled (${p.stalledForwarded} forwarded first), ` +
      `${this.kinesaliteRestarts} kinesalite restarts (${this.kinesalite?.crashes ?? 0} crashes), ${this.records} records read from ${this.shards.length} shards (${[...this.perStream].map(([k, n]) => `${k} ${n}`).join(', ')}), ` +
      `${this.tally.unparsable} unparsable, ${this.readErrors} failed reads`
    );
  }

  async setMode(mode: UpstreamMode): Promise<void> {
    if (this.proxy.mode === 'stall' && mode !== 'stall') this.proxy.dropHeld();
    this.proxy.badShard = undefined;
    if (mode === 'flaky' && this.rnd() < 0.5) {
      this.proxy.badShard = shardName(Math.floor(this.rnd() * SHARDS));
      this.shardOutages++;
    }
    if (mode === 'down') {
      await this.proxy.close();
      if (this.rnd() < 0.5) {
        // Nothing reaches kinesalite while the proxy is down: a restart loses nothing it answered.
        await this.kinesalite?.stop();
        await this.kinesalite?.start();
        this.kinesaliteRestarts++;
      }
    } else {
      await this.up();
    }
    this.proxy.mode = mode;
  }

  /** kinesalite (with its streams, the first time), the proxy, and the background reader. */
  async up(): Promise<void> {
    if (!this.kinesalite) {
      this.kinesalite = new KinesaliteProcess(join(this.dir, 'kinesalite'), await freePort());
      await this.kinesalite.start();
      this.client = new KinesisClient({
        region: REGION,
        endpoint: `http://127.0.0.1:${this.kinesalite.port}`,
        credentials: { ...CREDENTIALS }, // a copy: the SDK writes a $source key into the object it is given
        requestHandler: new NodeHttpHandler({ requestTimeout: 10_000 }),
        maxAttempts: 1,
      });
      for (const name of [MAIN_STREAM, ...Array.from({ length: ACTION_STREAMS }, (_, i) => `${MAIN_STREAM}-${i}`)]) await this.createStream(name);
      this.timer = setInterval(() => void this.collect(), 2000);
    }
    // A crash of kinesalite (not one of ours) is met here and at each collect().
    if (!this.kinesalite.running) {
      await this.kinesalite.start();
      this.kinesaliteRestarts++;
    }
    if (!this.proxy.listening) await this.proxy.listen(this.proxy.port || (await freePort()));
  }

  /** The end of the run: the proxy, the reader and kinesalite stop. */
  async down(): Promise<void> {
    await this.proxy.close();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.reading;
    this.client?.destroy();
    this.proxy.destroy();
    await this.kinesalite?.stop();
  }

  /** Read what kinesalite holds since the last read (serialised: the background timer calls it too). */
  collect(): Promise<void> {
    const next = this.reading.then(() => this.readAll());
    this.reading = next.catch(() => {
      this.readErrors++;
    });
    return this.reading;
  }

  private async createStream(name: string): Promise<void> {
    await this.client!.send(new CreateStreamCommand({ StreamName: name, ShardCount: SHARDS }));
    for (let i = 0; ; i++) {
      const d = await this.client!.send(new DescribeStreamCommand({ StreamName: name }));
      if (d.StreamDescription?.StreamStatus === 'ACTIVE') {
        for (const s of d.StreamDescription.Shards ?? []) this.shards.push({ stream: name, shard: s.ShardId!, iterator: undefined, lastSeq: undefined });
        return;
      }
      if (i > 100) throw new Error(`kinesis stream ${name} not ACTIVE`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async readAll(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (this.kinesalite && !this.kinesalite.running && this.proxy.listening) {
      await this.kinesalite.start();
      this.kinesaliteRestarts++;
    }
    for (const s of this.shards) {
      for (;;) {
        if (!s.iterator) {
          // From the start, or just after the last record read (an expired iterator, a restart).
          const type: ShardIteratorType = s.lastSeq ? 'AFTER_SEQUENCE_NUMBER' : 'TRIM_HORIZON';
          const it = await client.send(
            new GetShardIteratorCommand({ StreamName: s.stream, ShardId: s.shard, ShardIteratorType: type, StartingSequenceNumber: s.lastSeq }),
          );
          s.iterator = it.ShardIterator;
        }
        let got: GetRecordsCommandOutput;
        try {
          got = await client.send(new GetRecordsCommand({ ShardIterator: s.iterator, Limit: 10_000 }));
        } catch (err) {
          if ((err as { name?: string }).name === 'ExpiredIteratorException') {
            s.iterator = undefined;
            continue;
          }
          throw err;
        }
        s.iterator = got.NextShardIterator;
        const records = got.Records ?? [];
        if (records.length > 0) this.perStream.set(s.stream, (this.perStream.get(s.stream) ?? 0) + records.length);
        for (const r of records) {
          this.tally.add(Buffer.from(r.Data!).toString('utf8'));
          s.lastSeq = r.SequenceNumber;
        }
        if (records.length === 0 || !s.iterator) break;
      }
    }
  }
}
