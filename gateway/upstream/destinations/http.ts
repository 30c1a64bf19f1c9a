// HTTP destination speaking the Amazon Data Firehose HTTP endpoint delivery protocol v1.0:
// POST application/json { requestId, timestamp, records: [{ data: base64 }] } with the
// X-Amz-Firehose-* headers; success only on 200 with a JSON body echoing the requestId.
// The protocol has no per-record results: the whole batch succeeds or fails together.
//
// Request ids: a batch keeps its request id while it is retried (the exporter resends exactly
// the failed batch), so receivers can deduplicate; any other batch gets a new UUID.
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { RuntimeDeps } from '../../../core/deps.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import type { HttpDestinationOptions } from '../options.js';
import { destinationMetrics, httpStatusReason, type DestinationMetrics } from './common.js';
import { routeFor, type ProxySettings, type Route } from '../proxy.js';
import { BatchIds, type HttpExchange, httpExchangeFor, retryAfterText, safeTarget, throwIfEndpointAnswer, type HttpReply } from './http-exchange.js';

// Were defined here; the webhook destination shares them (http-exchange.ts).
export { parseRetryAfter, safeTarget } from './http-exchange.js';

const gzipAsync = promisify(gzip);
/** What a 200 that is not the protocol's answer says to check. */
const NOT_THE_PROTOCOL =
  ': a Firehose HTTP endpoint answers {"requestId": <the X-Amz-Firehose-Request-Id sent>, "timestamp": ...}; check that the url is one (not a generic web server or a proxy page); to POST to your own endpoint (AWS IoT\'s HTTP action) use type webhook (a `webhook` action in a rule) instead of http';
/** Largest response body read (the protocol's responses are tiny). */
const MAX_RESPONSE_BYTES = 64 * 1024;

export class HttpDestination implements Destination {
  readonly kind = 'http';
  readonly target: string;
  readonly limits: DestinationLimits;
  private readonly url: URL;
  /** Direct, or through the site's proxy (proxy.ts): decided here, the proxy's agent made at start. */
  readonly route: Route;
  private readonly exchange: HttpExchange;
  private readonly headers: Record<string, string>;
  /** The request id of the batch being sent, kept while that batch is retried. */
  private readonly ids = new BatchIds();
  /** The metrics every destination reports (common.ts). */
  private readonly metrics: DestinationMetrics;

  constructor(
    private readonly options: HttpDestinationOptions,
    deps: RuntimeDeps & { network?: ProxySettings | undefined },
  ) {
    this.url = new URL(options.url);
    this.target = safeTarget(this.url);
    this.route = routeFor(this.url, options.proxy, deps.network);
    this.metrics = destinationMetrics(deps.registry);
    this.limits = { maxRecords: options.maxRecords, maxRecordBytes: options.maxRecordBytes, maxBatchBytes: options.maxBatchBytes };
    // A private CA: checked as the handshake will use it (a key or a missing file is a config error naming caFile).
    this.exchange = httpExchangeFor(
      options,
      {
        url: this.url,
        target: this.target,
        route: this.route,
        kind: 'http',
        subject: 'HTTP destination',
        maxResponseBytes: MAX_RESPONSE_BYTES,
        retryNote: 'the batch is retried with the same request id',
      },
      deps.logger,
    );
    this.headers = {
      'Content-Type': 'application/json',
      'X-Amz-Firehose-Protocol-Version': '1.0',
    };
    if (options.accessKey !== undefined) this.headers['X-Amz-Firehose-Access-Key'] = options.accessKey;
    if (options.commonAttributes) {
      this.headers['X-Amz-Firehose-Common-Attributes'] = JSON.stringify({ commonAttributes: options.commonAttributes });
    }
    if (options.gzip) this.headers['Content-Encoding'] = 'gzip';
  }

  async start(): Promise<void> {
    await this.exchange.start();
  }

  async stop(): Promise<void> {
    this.exchange.stop();
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const requestId = this.ids.idFor(records);

    // Build the body as one string: no intermediate objects per record.
    let body = `{"requestId":"${requestId}","timestamp":${Date.now()},"records":[`;
    for (let i = 0; i < records.length; i++) {
      body += i === 0 ? '{"data":"' : ',{"data":"';
      body += records[i]!.payload.toString('base64');
      body += '"}';
    }
    body += ']}';
    let buf = Buffer.from(body, 'utf8');
    if (this.options.gzip) buf = await gzipAsync(buf);

    let reply: HttpReply;
    let verdict: RecordResult;
    try {
      reply = await this.exchange.request('POST', { ...this.headers, 'X-Amz-Firehose-Request-Id': requestId }, buf, signal);
    } catch (err) {
      this.metrics.calls.inc({ kind: 'http', target: this.target, outcome: 'retryable', reason: this.exchange.failureReason(err, signal) });
      throw err;
    }
    try {
      verdict = this.judge(reply, requestId);
    } catch (err) {
      this.metrics.calls.inc({ kind: 'http', target: this.target, outcome: 'retryable', reason: httpStatusReason(reply.status) });
      throw err;
    }
    this.count(verdict, records.length, reply.status);
    if (verdict.ok) this.ids.delivered();
    const out: RecordResult[] = new Array(records.length);
    out.fill(verdict);
    return out;
  }

  private count(verdict: RecordResult, records: number, status: number): void {
    const lbl = { kind: 'http', target: this.target };
    if (verdict.ok) {
      this.metrics.calls.inc({ ...lbl, outcome: 'ok' });
      return;
    }
    this.metrics.calls.inc({ ...lbl, outcome: verdict.retryable ? 'retryable' : 'permanent', reason: httpStatusReason(status) });
    this.metrics.recordFailures.inc({ ...lbl, code: verdict.code ?? 'HTTP_ERROR' }, records);
  }

  private judge(reply: HttpReply, requestId: string): RecordResult {
    const { status } = reply;
    const detail = errorDetail(reply.body);
    if (status === 200) {
      // The protocol's answer is {requestId, timestamp}: a page this large (or one that never
      // ends) is not a Firehose HTTP endpoint answering.
      if (reply.oversized)
        return {
          ok: false,
          retryable: true,
          error: `HTTP 200 with a body over ${MAX_RESPONSE_BYTES / 1024} KiB (not read further) from ${this.target}: the protocol's answer is {"requestId","timestamp"}; check that the url is the Firehose HTTP endpoint`,
        };
      let echoed: unknown;
      try {
        echoed = (JSON.parse(reply.body) as { requestId?: unknown }).requestId;
      } catch {
        return { ok: false, retryable: true, error: `HTTP 200 with a body that is not JSON from ${this.target}${NOT_THE_PROTOCOL}` };
      }
      if (echoed !== requestId) {
        return {
          ok: false,
          retryable: true,
          error: `HTTP 200 with requestId ${JSON.stringify(echoed)} instead of ${requestId} from ${this.target}${NOT_THE_PROTOCOL}`,
        };
      }
      return { ok: true };
    }
    // 201, 202, 204: an endpoint that took the body as a web hook does (AWS IoT's HTTP action
    // ported as `http`), not the protocol's 200 with its answer. Was dead-lettered as "HTTP 204",
    // with nothing to say the protocol was wrong; held as the 200 without the answer is.
    if (status > 200 && status < 300)
      return { ok: false, retryable: true, error: `HTTP ${status} from ${this.target}, not the protocol's 200${NOT_THE_PROTOCOL}` };
    // 407 is a proxy's answer (an endpoint never gives it): to an http url the request goes to the
    // proxy as is, and its refusal comes back as the response (an https url's CONNECT refused
    // fails in the agent: post()).
    this.exchange.throwIfProxyRefused(status);
    const error = `HTTP ${status} from ${this.target}${detail ? `: ${detail}` : ''}`;
    // 429 and 503 may say when to come back (Retry-After): the loop waits that long (up to maxMs)
    // instead of knocking again after initialMs.
    const { retryAfterMs } = reply;
    if (status === 429) return { ok: false, retryable: true, error: `${error}${retryAfterText(retryAfterMs)}`, code: 'THROTTLED', retryAfterMs };
    // Down (502/503/504), setup (401/403: the access key; 404/405: the url is not the endpoint;
    // 407: a proxy wants credentials) and redirects (http:// to https://, a moved endpoint): the
    // endpoint's answer, not the records'.
    throwIfEndpointAnswer(reply, error, this.target, {
      url: "the endpoint refused the url, not the records: check the destination's url (its path)",
      credentials: "the endpoint refused the credentials, not the records: check the destination's accessKey (and any proxy in between)",
    });
    // 500 (and 408, other 5xx): record-level for the whole request. A broken endpoint and a record
    // it cannot parse look the same; the loop resends, splits, and counts it against a record only
    // with evidence that the record is at fault (outcomes.ts).
    if (status === 408 || status >= 500) return { ok: false, retryable: true, error };
    // 413 (too large), 400 and every other 4xx (and odd 1xx/3xx) will not get better by retrying.
    return { ok: false, retryable: false, error: `GH_EXPORT_PERMANENT: ${error}`, code: status === 413 ? 'TOO_LARGE' : undefined };
  }
}

/** errorMessage of a protocol error body, shortened; never echoes request headers. */
function errorDetail(body: string): string {
  if (!body) return '';
  try {
    const parsed = JSON.parse(body) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage.slice(0, 200);
  } catch {
    // not JSON: fall through
  }
  return body.slice(0, 200);
}

/** Options arrive validated (registry.ts). */
export function createHttpDestination(options: HttpDestinationOptions, deps: RuntimeDeps): HttpDestination {
  return new HttpDestination(options, deps);
}
