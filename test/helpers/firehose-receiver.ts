// A real HTTP server speaking the Firehose HTTP endpoint delivery protocol v1.0, for tests and
// benchmarks (it plays the role of the customer endpoint Firehose would deliver to).
//
//   const rx = await startFirehoseReceiver({ accessKey: 'k' });   // listens on a restartable port (ports.ts)
//   rx.url                      -> http://127.0.0.1:<port>/
//   rx.failNext(2, 500)         -> the next 2 requests get HTTP 500
//   rx.wrongRequestIdNext(1)    -> the next request gets 200 with a wrong requestId
//   rx.rejectWhen((recs) => ..., 413) -> requests whose records match get that status
//   await rx.down(); await rx.up()   -> stop listening (drop connections), listen again on the same port
//   rx.requests / rx.accepted / rx.uniqueRecords() / rx.duplicates()
//   rx.on('request', (r: ReceivedRequest) => ...), rx.on('accepted', ...)
//
// recordRequests: false keeps only counters (benchmarks: no per-request retention).
import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { EventEmitter, once } from 'node:events';
import { gunzipSync } from 'node:zlib';
import type { Socket } from 'node:net';
import { onRestartablePort } from './ports.js';

export interface ReceivedRequest {
  requestId: string;
  headers: http.IncomingHttpHeaders;
  /** Decoded record data. */
  records: Buffer[];
  status: number;
  /** True when this requestId was accepted before (a retry the receiver deduplicates). */
  duplicate: boolean;
}

export interface FirehoseReceiverOptions {
  accessKey?: string;
  /** Keep every request in memory (default true); false = counters only. */
  recordRequests?: boolean;
  host?: string;
  port?: number;
}

export class FirehoseReceiver extends EventEmitter {
  readonly requests: ReceivedRequest[] = [];
  /** Accepted requests (status 200 with the right id). */
  readonly accepted: ReceivedRequest[] = [];
  acceptedRecords = 0;
  acceptedRequests = 0;
  totalRequests = 0;
  private readonly seenIds = new Set<string>();
  private failQueue: number[] = [];
  private wrongIds = 0;
  private rejectRule: { match: (records: Buffer[]) => boolean; status: number } | undefined;
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  private readonly host: string;

  constructor(private readonly options: FirehoseReceiverOptions = {}) {
    super();
    this.host = options.host ?? '127.0.0.1';
    this.server = this.makeServer();
  }

  get url(): string {
    return `http://${this.host}:${this.port}/`;
  }

  failNext(n: number, status: number): void {
    for (let i = 0; i < n; i++) this.failQueue.push(status);
  }

  wrongRequestIdNext(n: number): void {
    this.wrongIds += n;
  }

  rejectWhen(match: (records: Buffer[]) => boolean, status = 413): void {
    this.rejectRule = { match, status };
  }

  /** Accepted record data (with duplicates from retried requests that were accepted twice). */
  allRecords(): Buffer[] {
    return this.accepted.flatMap((r) => r.records);
  }

  /** Accepted records as strings, deduplicated by request id (what a deduplicating receiver keeps). */
  uniqueRecords(): string[] {
    return this.accepted.filter((r) => !r.duplicate).flatMap((r) => r.records.map((b) => b.toString('utf8')));
  }

  /** Records accepted more than once (by value). */
  duplicates(): number {
    const seen = new Set<string>();
    let dups = 0;
    for (const b of this.allRecords()) {
      const s = b.toString('utf8');
      if (seen.has(s)) dups++;
      else seen.add(s);
    }
    return dups;
  }

  async up(): Promise<void> {
    if (this.server.listening) return;
    this.server = this.makeServer();
    this.server.listen(this.port, this.host);
    await once(this.server, 'listening');
    const addr = this.server.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
  }

  /** Stop listening and drop every open connection (an outage). */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  async close(): Promise<void> {
    await this.down();
  }

  private makeServer(): http.Server {
    const srv = http.createServer((req, res) => this.handle(req, res));
    srv.keepAliveTimeout = 30_000;
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return srv;
  }

  private reply(res: http.ServerResponse, status: number, requestId: string, errorMessage?: string): void {
    const body = JSON.stringify(errorMessage === undefined ? { requestId, timestamp: Date.now() } : { requestId, timestamp: Date.now(), errorMessage });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      this.totalRequests++;
      const headerId = String(req.headers['x-amz-firehose-request-id'] ?? '');
      let raw = Buffer.concat(chunks);
      let parsed: { requestId?: unknown; timestamp?: unknown; records?: Array<{ data?: unknown }> };
      try {
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        parsed = JSON.parse(raw.toString('utf8')) as typeof parsed;
      } catch {
        this.reply(res, 400, headerId, 'body is not JSON');
        return;
      }
      const requestId = typeof parsed.requestId === 'string' ? parsed.requestId : headerId;
      const records: Buffer[] = [];
      for (const r of parsed.records ?? []) records.push(Buffer.from(typeof r.data === 'string' ? r.data : '', 'base64'));
      let status = 200;
      let error: string | undefined;
      if (req.method !== 'POST' || req.headers['x-amz-firehose-protocol-version'] !== '1.0' || requestId !== headerId || !Array.isArray(parsed.records)) {
        status = 400;
        error = 'not a Firehose v1.0 request';
      } else if (this.options.accessKey !== undefined && req.headers['x-amz-firehose-access-key'] !== this.options.accessKey) {
        status = 401;
        error = 'bad access key';
      } else if (this.failQueue.length > 0) {
        status = this.failQueue.shift()!;
        error = `injected ${status}`;
      } else if (this.rejectRule?.match(records)) {
        status = this.rejectRule.status;
        error = 'rejected by rule';
      }
      const duplicate = status === 200 && this.seenIds.has(requestId);
      const entry: ReceivedRequest = { requestId, headers: req.headers, records, status, duplicate };
      if (this.options.recordRequests !== false) this.requests.push(entry);
      if (status === 200) {
        if (this.wrongIds > 0) {
          this.wrongIds--;
          entry.status = -200; // marks "200 with a wrong id" in the log: not accepted
          this.reply(res, 200, `${requestId}-wrong`);
          this.emit('request', entry);
          return;
        }
        this.seenIds.add(requestId);
        this.acceptedRequests++;
        this.acceptedRecords += records.length;
        if (this.options.recordRequests !== false) this.accepted.push(entry);
        this.reply(res, 200, requestId);
        this.emit('request', entry);
        this.emit('accepted', entry);
        return;
      }
      this.reply(res, status, requestId, error);
      this.emit('request', entry);
    });
  }
}

export async function startFirehoseReceiver(options: FirehoseReceiverOptions = {}): Promise<FirehoseReceiver> {
  const rx = new FirehoseReceiver(options);
  if (options.port !== undefined) {
    rx.port = options.port;
    await rx.up();
    return rx;
  }
  // down() + up() listens again on this port: one no other test can be handed meanwhile.
  await onRestartablePort(undefined, async (p) => {
    rx.port = p;
    await rx.up();
  });
  return rx;
}

/**
 * A minimal https Firehose-protocol receiver serving `cert`/`key` (a private CA's server certificate,
 * one past its date...): answers every request 200 with its requestId and counts the records. For
 * the TLS tests of the http destination; the full receiver above speaks plain http.
 */
export async function startHttpsFirehoseReceiver(t: TestContext, cert: string, key: string): Promise<{ url: string; records: () => number }> {
  let records = 0;
  const server = https.createServer({ cert: await readFile(cert), key: await readFile(key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { requestId: string; records: unknown[] };
      records += body.records.length;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requestId: body.requestId, timestamp: Date.now() }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.on('connection', (s) => t.after(() => s.destroy()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}/firehose`, records: () => records };
}
