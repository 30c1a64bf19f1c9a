// The fault-injecting proxy of the chaos bench's Kinesis upstream (chaos-upstream-kinesis.ts): an
// HTTP server the gateway's kinesis destination calls, forwarding to kinesalite, playing Kinesis's
// own failure modes on PutRecords calls (modes as chaos-upstream-kinesis.ts says). kinesalite never
// fails a call or a record by itself. Shapes from the Kinesis API reference: PutRecords answers 200
// with FailedRecordCount and Records "correlated with the request by natural ordering", a refused
// record carrying ErrorCode (ProvisionedThroughputExceededException, InternalFailure) and
// ErrorMessage, a stored one SequenceNumber and ShardId; a whole-call error is a JSON 1.1 error
// ({"__type", "message"}, x-amzn-ErrorType) with HTTP 400 (throttling) or 500 (InternalFailure).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamMode } from './chaos-upstream.js';

const ACCOUNT = '000000000000';
/** Shards of every stream (kinesalite splits the hash key range evenly). */
export const SHARDS = 2;

/** The shard a partition key hashes to among `SHARDS` evenly split ranges (kinesalite's split, MD5 as Kinesis). */
function shardOf(partitionKey: string): string {
  const top = createHash('md5').update(partitionKey).digest()[0]!;
  return shardName(Math.floor((top * SHARDS) / 256));
}

export function shardName(i: number): string {
  return `shardId-${String(i).padStart(12, '0')}`;
}

interface Forwarded {
  status: number;
  body: Buffer;
}

interface PutRecordsBody {
  StreamName: string;
  Records: Array<{ Data: string; PartitionKey: string }>;
}

export class KinesisFaultProxy {
  mode: UpstreamMode = 'ok';
  /** PutRecords calls taken, and what was done to them. */
  calls = 0;
  partial = 0;
  refusedThrottled = 0;
  refusedInternal = 0;
  whole400 = 0;
  whole500 = 0;
  stalled = 0;
  stalledForwarded = 0;
  /** Records refused with InternalFailure because their shard was failing. */
  refusedShard = 0;
  /** The shard failing in this flaky phase (its records refused with InternalFailure), if any. */
  badShard: string | undefined;
  port = 0;
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<http.ServerResponse>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(
    /** kinesalite's port. */
    private readonly target: () => number,
    /** The per-call draws. */
    private readonly callRnd: () => number,
  ) {}

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Listen on `port` (the first time a free one, then the same). */
  async listen(port: number): Promise<void> {
    if (this.server) return;
    this.port = port;
    const srv = http.createServer((req, res) => this.handle(req, res));
    srv.keepAliveTimeout = 30_000;
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    srv.listen(port, '127.0.0.1');
    await once(srv, 'listening');
    this.server = srv;
  }

  /** Stop listening, every connection dropped. */
  async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    this.dropHeld();
    const closed = new Promise<void>((r) => srv.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  destroy(): void {
    this.agent.destroy();
  }

  /** Drop the connections of the calls held unanswered (stall). */
  dropHeld(): void {
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
  }

  /** The call to kinesalite as the gateway made it (its signature is not checked), with `body`. */
  private forward(headers: http.IncomingHttpHeaders, body: Buffer): Promise<Forwarded> {
    const h: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && k !== 'host' && k !== 'content-length' && k !== 'connection') h[k] = v;
    h['content-length'] = body.length;
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.target(), method: 'POST', path: '/', headers: h, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error('kinesalite did not answer in 30 s')));
      req.end(body);
    });
  }

  private reply(res: http.ServerResponse, status: number, body: Buffer | object, errorType?: string): void {
    const out = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': out.length,
      'x-amzn-requestid': createHash('md5').update(String(this.calls)).digest('hex'),
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    });
    res.end(out);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      this.serve(req, res, body).catch(() => res.destroy());
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const isPut = String(req.headers['x-amz-target'] ?? '').endsWith('.PutRecords');
    if (!isPut) {
      const f = await this.forward(req.headers, body);
      this.reply(res, f.status, f.body);
      return;
    }
    this.calls++;
    if (this.mode === 'stall') {
      this.stalled++;
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      if (this.callRnd() < 0.5) {
        this.stalledForwarded++;
        await this.forward(req.headers, body).catch(() => undefined);
      }
      return;
    }
    if (this.mode === 'flaky' && this.callRnd() < 0.3) {
      const kind = this.callRnd();
      if (kind < 0.6) return this.partialFailure(req, res, body, true);
      const stream = (JSON.parse(body.toString('utf8')) as PutRecordsBody).StreamName;
      if (kind < 0.8) {
        this.whole400++;
        const type = 'ProvisionedThroughputExceededException';
        this.reply(res, 400, { __type: type, message: `Rate exceeded for stream ${stream} under account ${ACCOUNT}.` }, type);
      } else {
        this.whole500++;
        this.reply(res, 500, { __type: 'InternalFailure', message: 'Internal service failure.' }, 'InternalFailure');
      }
      return;
    }
    if (this.mode === 'flaky' && this.badShard !== undefined) return this.partialFailure(req, res, body, false);
    const f = await this.forward(req.headers, body);
    this.reply(res, f.status, f.body);
  }

  /**
   * Forward the records but those refused (`random`: a random subset, at least one; and those of a
   * failing shard); answer 200 with per-record errors for the refused, in the request's order.
   */
  private async partialFailure(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, random: boolean): Promise<void> {
    const call = JSON.parse(body.toString('utf8')) as PutRecordsBody;
    const dropRate = random ? 0.1 + 0.9 * this.callRnd() : 0;
    const refused: Array<'random' | 'shard' | undefined> = call.Records.map((r) =>
      this.badShard !== undefined && shardOf(r.PartitionKey) === this.badShard ? 'shard' : random && this.callRnd() < dropRate ? 'random' : undefined,
    );
    if (random && !refused.some(Boolean)) refused[Math.floor(this.callRnd() * refused.length)] = 'random';
    if (!refused.some(Boolean)) {
      const f = await this.forward(req.headers, body);
      return this.reply(res, f.status, f.body);
    }
    const kept = call.Records.filter((_, i) => !refused[i]);
    let stored: Array<Record<string, unknown>> = [];
    if (kept.length > 0) {
      const f = await this.forward(req.headers, Buffer.from(JSON.stringify({ ...call, Records: kept })));
      // kinesalite refused the call as a whole (it never should): its answer as it is, for every record.
      if (f.status !== 200) return this.reply(res, f.status, f.body);
      stored = (JSON.parse(f.body.toString('utf8')) as { Records: Array<Record<string, unknown>> }).Records;
    }
    if (random) this.partial++;
    let j = 0;
    const records = call.Records.map((r, i) => {
      if (!refused[i]) return stored[j++];
      if (refused[i] === 'shard') {
        this.refusedShard++;
        return { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' };
      }
      if (this.callRnd() < 0.5) {
        this.refusedThrottled++;
        return {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: `Rate exceeded for shard ${shardOf(r.PartitionKey)} in stream ${call.StreamName} under account ${ACCOUNT}.`,
        };
      }
      this.refusedInternal++;
      return { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' };
    });
    this.reply(res, 200, { FailedRecordCount: refused.filter(Boolean).length, Records: records });
  }
}
