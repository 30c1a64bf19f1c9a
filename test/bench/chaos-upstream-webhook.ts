// The chaos bench's webhook upstream (`--upstream webhook`, test/bench/chaos.ts): the user's own
// endpoint the `webhook` destination POSTs NDJSON export lines to (format ndjson, records line:
// one `{"id","stream","seq","topic","receivedAt","payload"}` per record), counting each record by
// its payload's chaos id as the Firehose-HTTP endpoint does (HttpChaosReceiver: the server, the
// modes ok, stall and down). Flaky answers, of the requests, a random:
//   12% HTTP 500                       (not stored; resent with the same Idempotency-Key)
//    6% HTTP 503 with Retry-After: 1   (not stored; the endpoint's outage path)
//    6% HTTP 429 with Retry-After: 1   (not stored; throttled)
//    6% a reset                        (half of them stored first: a duplicate)
//    6% a slow answer, 1-3.5 s         (stored first; past the gateway's 2 s timeout: a duplicate)
// and accepts the rest with 200.
// It keeps the Idempotency-Key of every batch it stored, and splits the duplicates it received:
// a record resent in a batch under a key it had stored (a receiver keeping its keys drops it), a
// record resent under a new key (a kill -9 before the 2xx, the batch made again: no key helps), and
// a payload the gateway stored twice as two records (a device's resend: the export is not to blame).
import type http from 'node:http';
import { HttpChaosReceiver } from './chaos-upstream.js';

/** One NDJSON export line, as far as the receiver reads it. */
interface ExportLine {
  stream?: unknown;
  seq?: unknown;
  payload?: unknown;
}

/** Which seqs of each local stream were received (a growing bitmap per stream). */
class SeqsSeen {
  private readonly byStream = new Map<string, Uint8Array>();

  /** Mark stream:seq received; true when it was already. */
  see(stream: string, seq: number): boolean {
    let bits = this.byStream.get(stream);
    const byte = seq >> 3;
    if (!bits || byte >= bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, (bits?.length ?? 4096) * 2));
      if (bits) grown.set(bits);
      bits = grown;
      this.byStream.set(stream, bits);
    }
    const mask = 1 << (seq & 7);
    const was = (bits[byte]! & mask) !== 0;
    bits[byte]! |= mask;
    return was;
  }
}

export class WebhookChaosUpstream extends HttpChaosReceiver {
  readonly kind = 'webhook';
  /** Flaky answers by kind. */
  readonly injected = { '500': 0, '503': 0, '429': 0, reset: 0, resetStored: 0, slow: 0, slowLate: 0 };
  /** Batches stored (each with its key). */
  batches = 0;
  /** Requests without an Idempotency-Key header (must stay 0). */
  noKey = 0;
  /** Lines that are not an export line with a stream and seq (must stay 0). */
  badLines = 0;
  /** Records received again in a batch whose key was stored before: a receiver keeping keys drops them. */
  resentSameKey = 0;
  /** Records received again under a key never stored before: a re-send no key can drop. */
  resentNewKey = 0;
  /** When (s since the receiver was made) the first batches holding records resent under a new key came: to match with the kill -9s. */
  readonly newKeyAt: number[] = [];
  private readonly t0 = Date.now();
  private readonly keys = new Set<string>();
  private readonly seqs = new SeqsSeen();

  destination(): Record<string, unknown> {
    return { type: 'webhook', url: this.url, format: 'ndjson', records: 'line', timeoutMs: 2000 };
  }

  /** A `webhook` action at a URL that changes with the version (`?v=N`): a new local stream per version. */
  action(n: number): Record<string, unknown> {
    return {
      webhook: {
        url: `${this.url}?v=${n}`,
        timeoutMs: 2000,
        exporter: { batch: { maxRecords: 500, lingerMs: 50 }, backoff: { initialMs: 100, maxMs: 2000 } },
      },
    };
  }

  describe(): string {
    const i = this.injected;
    // Payload duplicates that are not the same record received twice: the gateway stored them twice.
    const stored2 = this.tally.allDuplicates() - this.resentSameKey - this.resentNewKey;
    return (
      `upstream (webhook, NDJSON): ${this.requests} requests, ${this.batches} batches stored; flaky: ${i['500']} x 500, ${i['503']} x 503, ${i['429']} x 429 (Retry-After 1 s), ` +
      `${i.reset} resets (${i.resetStored} stored first), ${i.slow} slow answers (${i.slowLate} past the 2 s timeout); ${this.stalled} stalled (${this.storedThenStalled} stored first); ` +
      `${this.records} records accepted, ${this.tally.unparsable} unparsable payloads, ${this.badLines} bad lines, ${this.noKey} requests without Idempotency-Key\n` +
      `  duplicates: ${this.resentSameKey} records resent under an Idempotency-Key already stored (droppable by the key), ` +
      `${this.resentNewKey} resent under a new key (not droppable), ${stored2} payloads stored twice by the gateway (another record id)\n` +
      `  batches with records resent under a new key came at (s): ${this.newKeyAt.join(' ') || 'none'}`
    );
  }

  protected store(body: Buffer, req: http.IncomingMessage): void {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') this.noKey++;
    const sameKey = typeof key === 'string' && this.keys.has(key);
    if (typeof key === 'string') this.keys.add(key);
    this.batches++;
    let start = 0;
    let resentNew = 0;
    for (let nl = body.indexOf(0x0a); nl >= 0; nl = body.indexOf(0x0a, start)) {
      const text = body.toString('utf8', start, nl);
      start = nl + 1;
      let line: ExportLine;
      try {
        line = JSON.parse(text) as ExportLine;
      } catch {
        this.badLines++;
        continue;
      }
      if (typeof line.stream !== 'string' || typeof line.seq !== 'number') {
        this.badLines++;
        continue;
      }
      if (this.seqs.see(line.stream, line.seq)) {
        if (sameKey) this.resentSameKey++;
        else resentNew++;
      }
      this.tally.addValue(line.payload);
    }
    if (start < body.length) this.badLines++; // a last line without its newline
    this.resentNewKey += resentNew;
    if (resentNew > 0 && this.newKeyAt.length < 60) this.newKeyAt.push(Math.round((Date.now() - this.t0) / 100) / 10);
  }

  protected answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const r = this.mode === 'flaky' ? this.rnd() : 1;
    if (r < 0.12) return this.refuse(res, 500);
    if (r < 0.18) return this.refuse(res, 503, '1');
    if (r < 0.24) return this.refuse(res, 429, '1');
    if (r < 0.3) {
      this.injected.reset++;
      if (this.rnd() < 0.5) {
        this.store(body, req);
        this.injected.resetStored++;
      }
      res.socket?.destroy();
      return;
    }
    this.store(body, req);
    if (r < 0.36) {
      this.injected.slow++;
      const ms = 1000 + this.rnd() * 2500;
      if (ms > 2000) this.injected.slowLate++;
      setTimeout(() => res.writeHead(200).end(), ms).unref();
      return;
    }
    res.writeHead(200).end();
  }

  private refuse(res: http.ServerResponse, status: 500 | 503 | 429, retryAfter?: string): void {
    this.injected[status]++;
    res.writeHead(status, { 'content-type': 'text/plain', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
    res.end(`injected ${status}`);
  }
}
