// The chaos bench's upstream (test/bench/chaos.ts): a Firehose-HTTP protocol endpoint (as in
// soak.ts) that counts every record it accepts by its id, switchable between four modes:
//   ok     every request accepted (200 echoing the request id)
//   flaky  a random 30% answered HTTP 500
//   stall  requests taken and never answered (half of them stored first: the gateway times out
//          and sends again, a duplicate); the sockets are dropped when the mode changes
//   down   not listening (every connection dropped)
// The HTTP server, its modes and the stall are HttpChaosReceiver's, shared with the webhook
// receiver (chaos-upstream-webhook.ts), which answers flaky requests in more ways.
// Record data is the payload: `{"id":N,...}` from the MQTT publishers, `{"f":N,...}` a log line,
// `{"d":N,...}` a command the cloud published to the MQTT source's broker, `{"v":N,...}` from the
// MQTT 5 publishers, `{"deviceId":...,"s":N,...}` a serial device's reading, `{"h":N,...}` a
// reading an http device POSTed.
import http from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';

export type UpstreamMode = 'ok' | 'flaky' | 'stall' | 'down';

/**
 * What chaos.ts needs of an upstream under test (`--upstream`, chaos-upstreams.ts makes one): the
 * four fault modes, the exporter destination that reaches it, and what it received by id.
 */
export interface ChaosSink {
  readonly kind: string;
  mode: UpstreamMode;
  /** Records received with a chaos id (duplicates included). */
  readonly records: number;
  up(): Promise<void>;
  down(): Promise<void>;
  setMode(mode: UpstreamMode): Promise<void>;
  /** How often the record with `key` = id was received. */
  count(key: ChaosKey, id: number): number;
  /** Receptions beyond the first, of one kind. */
  duplicates(key: ChaosKey): number;
  /** The exporter's `destination` config that sends to this upstream. */
  destination(): Record<string, unknown>;
  /** A rule action sending to this upstream, its own local stream per version n (chaos --actions); absent: not supported. */
  action?(n: number): Record<string, unknown>;
  /** It never receives what an MQTT source brought down (the mqtt destination's loop prevention): chaos leaves the cloud leg out. */
  readonly dropsBridged?: boolean;
  /** Read what the upstream stored since the last call (sinks that are read back, not pushed to); called before each check. */
  collect?(): Promise<void>;
  /** One summary line: requests, injected faults, records. */
  describe(): string;
}

/** Receptions per id of each leg (by the payload's id key), from the payloads' text. */
export class ChaosTally {
  records = 0;
  unparsable = 0;
  private readonly seen: Map<ChaosKey, Uint8Array>;

  constructor(capacities: Partial<Record<ChaosKey, number>>) {
    this.seen = new Map(CHAOS_KEYS.map((k) => [k, new Uint8Array(capacities[k] ?? 0)]));
  }

  /** Count one record's payload (JSON text with one of CHAOS_KEYS as a number). */
  add(text: string): void {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.unparsable++;
      return;
    }
    this.addValue(v);
  }

  /** Count one record's payload, already parsed (an NDJSON export line's `payload`). */
  addValue(value: unknown): void {
    const v = value as Record<string, unknown>;
    const key = typeof v === 'object' && v !== null ? CHAOS_KEYS.find((k) => typeof v[k] === 'number') : undefined;
    const arr = key ? this.seen.get(key) : undefined;
    const id = key ? (v[key] as number) : -1;
    if (!arr || id < 0 || id >= arr.length) {
      this.unparsable++;
      return;
    }
    if (arr[id]! < 255) arr[id]!++;
    this.records++;
  }

  count(key: ChaosKey, id: number): number {
    return this.seen.get(key)![id] ?? 0;
  }

  duplicates(key: ChaosKey): number {
    let n = 0;
    for (const c of this.seen.get(key)!) if (c > 1) n += c - 1;
    return n;
  }

  /** Receptions beyond the first, of every kind. */
  allDuplicates(): number {
    return CHAOS_KEYS.reduce((n, k) => n + this.duplicates(k), 0);
  }
}

/**
 * The id key of each leg's payloads: `id` the MQTT 3.1.1 publishers, `v` the MQTT 5 ones, `f` a
 * log line, `d` a cloud command, `s` a serial reading, `h` a reading POSTed to the http source.
 * Looked for in this order.
 */
export const CHAOS_KEYS = ['id', 'v', 'f', 'd', 's', 'h'] as const;
export type ChaosKey = (typeof CHAOS_KEYS)[number];

/** What every ChaosSink counts the same way: the receptions of each id, in a ChaosTally. */
export abstract class TalliedSink {
  protected readonly tally: ChaosTally;

  constructor(capacities: Partial<Record<ChaosKey, number>>) {
    this.tally = new ChaosTally(capacities);
  }

  get records(): number {
    return this.tally.records;
  }

  count(key: ChaosKey, id: number): number {
    return this.tally.count(key, id);
  }

  duplicates(key: ChaosKey): number {
    return this.tally.duplicates(key);
  }
}

/**
 * An HTTP upstream of the chaos bench: the server, its sockets, the four modes (`stall` and `down`
 * handled here) and what it received, tallied. A subclass reads its protocol's body (store) and
 * answers a request in the modes ok and flaky (answer).
 */
export abstract class HttpChaosReceiver extends TalliedSink implements ChaosSink {
  abstract readonly kind: string;
  mode: UpstreamMode = 'ok';
  requests = 0;
  stalled = 0;
  storedThenStalled = 0;
  port = 0;
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<http.ServerResponse>();

  constructor(
    capacities: Partial<Record<ChaosKey, number>>,
    protected readonly rnd: () => number,
  ) {
    super(capacities);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  abstract destination(): Record<string, unknown>;
  abstract describe(): string;
  /** Count the records of a request's body as received. */
  protected abstract store(body: Buffer, req: http.IncomingMessage): void;
  /** Answer a request in the mode ok or flaky (storing what it accepts). */
  protected abstract answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void;

  async setMode(mode: UpstreamMode): Promise<void> {
    if (this.mode === 'stall' && mode !== 'stall') this.dropHeld();
    if (mode === 'down') await this.down();
    else await this.up();
    this.mode = mode;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const srv = http.createServer((req, res) => this.handle(req, res));
    srv.keepAliveTimeout = 30_000;
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    srv.listen(this.port, '127.0.0.1');
    await once(srv, 'listening');
    this.port = (srv.address() as { port: number }).port;
    this.server = srv;
  }

  async down(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    this.dropHeld();
    const closed = new Promise<void>((r) => srv.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private dropHeld(): void {
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      this.requests++;
      const body = Buffer.concat(chunks);
      if (this.mode === 'stall') {
        this.stalled++;
        if (this.rnd() < 0.5) {
          this.store(body, req);
          this.storedThenStalled++;
        }
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        return;
      }
      this.answer(req, body, res);
    });
  }
}

/** The Firehose-HTTP upstream (`--upstream http`, the default): flaky answers a random 30% with HTTP 500. */
export class ChaosUpstream extends HttpChaosReceiver {
  readonly kind = 'http';
  failed = 0;

  destination(): Record<string, unknown> {
    return { type: 'http', url: this.url, timeoutMs: 2000 };
  }

  /** An `http` action at a URL that changes with the version (`?v=N`): a new local stream per version. */
  action(n: number): Record<string, unknown> {
    return {
      http: { url: `${this.url}?v=${n}`, timeoutMs: 2000, exporter: { batch: { maxRecords: 500, lingerMs: 50 }, backoff: { initialMs: 100, maxMs: 2000 } } },
    };
  }

  describe(): string {
    return `upstream (Firehose HTTP): ${this.requests} requests, ${this.failed} answered 500, ${this.stalled} stalled (${this.storedThenStalled} stored first), ${this.records} records accepted, ${this.tally.unparsable} unparsable records`;
  }

  protected store(body: Buffer): void {
    const parsed = JSON.parse(body.toString('utf8')) as { records: Array<{ data: string }> };
    for (const r of parsed.records) this.tally.add(Buffer.from(r.data, 'base64').toString('utf8'));
  }

  protected answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const requestId = String(req.headers['x-amz-firehose-request-id'] ?? '');
    if (this.mode === 'flaky' && this.rnd() < 0.3) {
      this.failed++;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requestId, timestamp: Date.now(), errorMessage: 'injected failure' }));
      return;
    }
    this.store(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requestId, timestamp: Date.now() }));
  }
}
