// The chaos bench's http leg (test/bench/chaos.ts): devices POSTing to the gateway's http source
// (docs/http-source.md) as real HTTP clients do. Each device keeps its connection open (a
// keep-alive agent of one socket: a new one when the gateway was killed under it), and sends its
// readings either one per request (`POST /topics/http/dev<c>`, as a Shelly or curl) or several as
// an NDJSON batch (`Content-Type: application/x-ndjson`, as Fluent Bit's json_lines). Each reading
// carries a unique id (`"h":N`). A request answered anything but 200 (a 503 while the disk is full
// or the gateway stops, a connection reset by a kill -9, no answer within 10 s) is sent again,
// whole and unchanged, after its Retry-After (capped at 2 s) or a backoff: an id counts as
// acknowledged only once a request holding it was answered 200, and then it must reach upstream.
import { Agent, request } from 'node:http';
import { sleep } from './chaos-load.js';

/** No answer within this: the request is dropped and sent again (a stalled commit may still land: a duplicate). */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RETRY_WAIT_MS = 2000;

/** One request's answer: the status, or what went wrong before one came. */
type Answer = { status: number; retryAfterS: number | undefined } | { error: string };

function postOnce(agent: Agent, port: number, path: string, body: string, ndjson: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        res.resume(); // the answer's body is not needed, only read to free the socket for the next request
        res.on('end', () => {
          const ra = Number(res.headers['retry-after']);
          resolve({ status: res.statusCode ?? 0, retryAfterS: Number.isFinite(ra) ? ra : undefined });
        });
        res.on('error', (err) => resolve({ error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(body);
  });
}

export class HttpDevices {
  readonly acked: Uint8Array;
  readonly ackedAt: Uint32Array;
  /** Per id: the device that sent it (for the loss lines). */
  readonly deviceOf: Uint8Array;
  next = 0;
  ackedCount = 0;
  /** Requests sent (first tries and retries), retries alone, NDJSON batches answered 200. */
  requests = 0;
  retries = 0;
  batches = 0;
  /** Readings not generated: the device's queue was full (the gateway down a long time). */
  skipped = 0;
  /** Answers other than 200, by status or error. */
  readonly refusals = new Map<string, number>();
  private readonly queues: number[][];
  private readonly agents: Agent[];
  private timer: NodeJS.Timeout | undefined;
  private generating = true;
  private stopped = false;
  private readonly loops: Array<Promise<void>> = [];

  constructor(
    private readonly port: number,
    private readonly n: number,
    private readonly rate: number,
    capacity: number,
    private readonly t0: number,
    /** Seeded random numbers: single or batch, the batch's size. */
    private readonly rnd: () => number,
    /** Readings a device holds unacknowledged at most (past it, new ones are skipped). */
    private readonly window = 400,
  ) {
    this.acked = new Uint8Array(capacity);
    this.ackedAt = new Uint32Array(capacity);
    this.deviceOf = new Uint8Array(capacity);
    this.queues = Array.from({ length: n }, () => []);
    this.agents = Array.from({ length: n }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  }

  start(): void {
    const started = performance.now();
    let owed = 0;
    this.timer = setInterval(() => {
      if (!this.generating) return;
      const due = Math.floor(((performance.now() - started) / 1000) * this.rate) - owed;
      owed += due;
      for (let k = 0; k < due; k++) {
        const c = (owed - due + k) % this.n;
        const q = this.queues[c]!;
        if (q.length >= this.window || this.next >= this.acked.length) {
          this.skipped++;
          continue;
        }
        const id = this.next++;
        this.deviceOf[id] = c;
        q.push(id);
      }
    }, 20);
    for (let c = 0; c < this.n; c++) this.loops.push(this.device(c));
  }

  /** One device: take what is queued (one reading, or a batch of up to 50), send it until a 200. */
  private async device(c: number): Promise<void> {
    const pad = 'h'.repeat(80);
    const q = this.queues[c]!;
    while (!this.stopped) {
      if (q.length === 0) {
        if (!this.generating) return;
        await sleep(20);
        continue;
      }
      const batch = this.rnd() < 0.5;
      const ids = batch ? q.slice(0, 1 + Math.floor(this.rnd() * 50)) : q.slice(0, 1);
      const lines = ids.map((id) => `{"h":${id},"dev":${c},"pad":"${pad}"}`);
      const body = batch ? `${lines.join('\n')}\n` : lines[0]!;
      for (let attempt = 0; !this.stopped; attempt++) {
        this.requests++;
        if (attempt > 0) this.retries++;
        const a = await postOnce(this.agents[c]!, this.port, `/topics/http/dev${c}`, body, batch);
        if ('status' in a && a.status === 200) {
          const at = Date.now() - this.t0;
          for (const id of ids)
            if (this.acked[id] === 0) {
              this.acked[id] = 1;
              this.ackedAt[id] = at;
              this.ackedCount++;
            }
          if (batch) this.batches++;
          q.splice(0, ids.length);
          break;
        }
        const kind = 'status' in a ? `HTTP ${a.status}` : a.error;
        this.refusals.set(kind, (this.refusals.get(kind) ?? 0) + 1);
        const backoff = Math.min(MAX_RETRY_WAIT_MS, 100 * 2 ** Math.min(attempt, 5));
        const wait = 'status' in a && a.retryAfterS !== undefined ? Math.min(MAX_RETRY_WAIT_MS, a.retryAfterS * 1000) : backoff;
        await sleep(wait);
      }
    }
  }

  /** Readings generated and not yet answered 200. */
  get unacked(): number {
    return this.queues.reduce((n, q) => n + q.length, 0);
  }

  /** Stop generating; keep sending until every queued reading is answered 200 (bounded). Resolves with those left. */
  async stop(timeoutMs = 60_000): Promise<number> {
    this.generating = false;
    clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.unacked > 0 && Date.now() < deadline) await sleep(100);
    this.stopped = true;
    await Promise.all(this.loops);
    for (const a of this.agents) a.destroy();
    return this.unacked;
  }
}
