// HTTP destination speaking the Amazon Data Firehose HTTP endpoint delivery protocol v1.0:
// POST application/json { requestId, timestamp, records: [{ data: base64 }] } with the
// X-Amz-Firehose-* headers; success only on 200 with a JSON body echoing the requestId.
// The protocol has no per-record results: the whole batch succeeds or fails together.
//
// Request ids: a batch keeps its request id while it is retried (the exporter resends exactly
// the failed batch), so receivers can deduplicate; any other batch gets a new UUID.
import type http from 'node:http';
import { nodeHttp } from '../../../core/node-http.js';
import { nodeHttps } from '../../../core/tls-modules.js';
import { randomUUID } from 'node:crypto';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, isGatehouseError } from '../../../core/errors.js';
import { readClientTlsFiles } from '../../../core/tls-files.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import type { HttpDestinationOptions } from '../options.js';
import { destinationMetrics, httpStatusReason, networkHint, type DestinationMetrics } from './common.js';
import { logRoute, routeFor, type ProxySettings, type Route } from '../proxy.js';
import { ProxyFault, findProxyFault, proxyAgents, proxyError, proxyFaultOf } from '../proxy-agent.js';
import { RESTART_TO_RENEW_HINT, expiredCertificateError, heldTlsFiles } from '../cert-expired.js';

const gzipAsync = promisify(gzip);
/** Answers that say the gateway's setup (access key, url) is wrong, whatever the records. */
const SETUP_STATUS = new Set([401, 403, 404, 405, 407]);
/** What a 200 that is not the protocol's answer says to check. */
const NOT_THE_PROTOCOL =
  ': a Firehose HTTP endpoint answers {"requestId": <the X-Amz-Firehose-Request-Id sent>, "timestamp": ...}; check that the url is one (not a generic web server or a proxy page)';
/** Largest response body read (the protocol's responses are tiny). */
const MAX_RESPONSE_BYTES = 64 * 1024;

interface Reply {
  status: number;
  body: string;
  /** Location header of a redirect. */
  location?: string | undefined;
  /** Retry-After header (seconds or an HTTP date), in ms from now. */
  retryAfterMs?: number | undefined;
  /** The body passed MAX_RESPONSE_BYTES: read no further (body holds its start). */
  oversized?: boolean;
}

/** Retry-After (RFC 9110 10.2.3: delay-seconds or an HTTP-date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** ' (Retry-After 30 s)' for an error message. */
function retryAfterText(ms: number | undefined): string {
  return ms === undefined ? '' : ` (Retry-After ${Math.round(ms / 1000)} s)`;
}

/** URL without user info or query string: safe for status pages and logs. */
export function safeTarget(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export class HttpDestination implements Destination {
  readonly kind = 'http';
  readonly target: string;
  readonly limits: DestinationLimits;
  private readonly url: URL;
  /** Direct, or through the site's proxy (proxy.ts): decided here, the proxy's agent made at start. */
  readonly route: Route;
  private agent: http.Agent;
  private readonly ca: Buffer | undefined;
  private readonly log: RuntimeDeps['logger'];
  private readonly headers: Record<string, string>;
  /** Batch identity -> request id, kept while that batch is retried. */
  private pending: { key: string; id: string } | undefined;
  /** The metrics every destination reports (common.ts). */
  private readonly metrics: DestinationMetrics;

  constructor(
    private readonly options: HttpDestinationOptions,
    deps: RuntimeDeps & { network?: ProxySettings | undefined },
  ) {
    this.url = new URL(options.url);
    this.target = safeTarget(this.url);
    this.route = routeFor(this.url, options.proxy, deps.network);
    this.log = deps.logger;
    this.metrics = destinationMetrics(deps.registry);
    this.limits = { maxRecords: options.maxRecords, maxRecordBytes: options.maxRecordBytes, maxBatchBytes: options.maxBatchBytes };
    const isHttps = this.url.protocol === 'https:';
    // A private CA: checked as the handshake will use it (a key or a missing file is a config error naming caFile).
    const { ca } = readClientTlsFiles(
      { ca: options.caFile },
      {
        where: { ca: 'destination.caFile', cert: 'destination.certFile', key: 'destination.keyFile' },
        subject: 'HTTP destination',
        code: 'GH_DESTINATION_CONFIG',
      },
    );
    this.ca = ca;
    this.agent = isHttps
      ? new (nodeHttps().Agent)({ keepAlive: true, maxSockets: 4, rejectUnauthorized: options.rejectUnauthorized, ...(ca ? { ca } : {}) })
      : new nodeHttp.Agent({ keepAlive: true, maxSockets: 4 });
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
    if (this.route.kind === 'proxy') {
      const agents = await proxyAgents(this.route, {
        keepAlive: true,
        maxSockets: 4,
        ca: this.ca,
        rejectUnauthorized: this.options.rejectUnauthorized,
        // The request's own bound: a CONNECT the proxy never answers ends with the request it was for.
        connectTimeoutMs: this.options.timeoutMs,
      });
      this.agent.destroy();
      this.agent = this.url.protocol === 'https:' ? agents.https : agents.http;
    }
    logRoute(this.log.child({ component: 'destination', kind: 'http', target: this.target }), this.route);
  }

  async stop(): Promise<void> {
    this.agent.destroy();
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const first = records[0]!;
    const last = records[records.length - 1]!;
    const key = `${first.stream}:${first.seq}:${last.seq}:${records.length}`;
    if (this.pending?.key !== key) this.pending = { key, id: randomUUID() };
    const requestId = this.pending.id;

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

    let reply: Reply;
    let verdict: RecordResult;
    try {
      reply = await this.post(buf, requestId, signal);
    } catch (err) {
      const fault = findProxyFault(err);
      const reason = signal.aborted
        ? 'other'
        : fault?.status === 407 || fault?.status === 401 || fault?.status === 403
          ? 'auth'
          : isGatehouseError(err, 'GH_UPSTREAM_CERT_EXPIRED')
            ? 'auth'
            : (err as { cause?: unknown }).cause instanceof NoResponse
              ? 'timeout'
              : 'network';
      this.metrics.calls.inc({ kind: 'http', target: this.target, outcome: 'retryable', reason });
      throw err;
    }
    try {
      verdict = this.judge(reply, requestId);
    } catch (err) {
      this.metrics.calls.inc({ kind: 'http', target: this.target, outcome: 'retryable', reason: httpStatusReason(reply.status) });
      throw err;
    }
    this.count(verdict, records.length, reply.status);
    if (verdict.ok) this.pending = undefined;
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

  private judge(reply: Reply, requestId: string): RecordResult {
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
    // 407 is a proxy's answer (an endpoint never gives it): to an http url the request goes to the
    // proxy as is, and its refusal comes back as the response (an https url's CONNECT refused
    // fails in the agent: post()).
    if (status === 407 && this.route.kind === 'proxy')
      throw proxyError(new ProxyFault('refused', this.route.safe, this.url.host, 'HTTP 407 Proxy Authentication Required', 407), this.target);
    const error = `HTTP ${status} from ${this.target}${detail ? `: ${detail}` : ''}`;
    // 429 and 503 may say when to come back (Retry-After): the loop waits that long (up to maxMs)
    // instead of knocking again after initialMs.
    const { retryAfterMs } = reply;
    if (status === 429) return { ok: false, retryable: true, error: `${error}${retryAfterText(retryAfterMs)}`, code: 'THROTTLED', retryAfterMs };
    // 502/503/504: the endpoint (or a proxy in front of it) is down: an outage, thrown so the loop
    // retries without spending the records' retry budget.
    if (status === 502 || status === 503 || status === 504)
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `${error}${status === 503 ? retryAfterText(retryAfterMs) : ''}` },
        {
          hint: 'the endpoint is unavailable; records wait in the local stream',
          ...(status === 503 && retryAfterMs !== undefined ? { details: { retryAfterMs } } : {}),
        },
      );
    // 401/403 (access key missing, wrong or forbidden), 404/405 (the url is not the endpoint), 407
    // (a proxy wants credentials): the gateway's setup is wrong, not the records. Every record
    // would get the same answer, so the backlog waits (an outage: thrown, nothing counted) with a
    // hint instead of being dead-lettered wholesale; it goes out once the setup is fixed.
    if (SETUP_STATUS.has(status))
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: error },
        {
          where: this.target,
          details: { setup: true },
          hint:
            status === 404 || status === 405
              ? "the endpoint refused the url, not the records: check the destination's url (its path); records wait in the local stream"
              : "the endpoint refused the credentials, not the records: check the destination's accessKey (and any proxy in between); records wait in the local stream",
        },
      );
    // A redirect (http:// to https://, a moved endpoint): the url is wrong, not the records. POSTs
    // are not followed (the body and access key would go where the config did not say).
    if (status >= 300 && status < 400)
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `${error}${reply.location ? ` (redirects to ${reply.location.split('?', 1)[0]})` : ''}` },
        {
          where: this.target,
          details: { setup: true },
          hint: "the endpoint redirects: set the destination's url to the address it points to (redirects are not followed); records wait in the local stream",
        },
      );
    // 500 (and 408, other 5xx): record-level for the whole request. A broken endpoint and a record
    // it cannot parse look the same; the loop resends, splits, and counts it against a record only
    // with evidence that the record is at fault (outcomes.ts).
    if (status === 408 || status >= 500) return { ok: false, retryable: true, error };
    // 413 (too large), 400 and every other 4xx (and odd 1xx/3xx) will not get better by retrying.
    return { ok: false, retryable: false, error: `GH_EXPORT_PERMANENT: ${error}`, code: status === 413 ? 'TOO_LARGE' : undefined };
  }

  private post(body: Buffer, requestId: string, signal: AbortSignal): Promise<Reply> {
    const mod = this.url.protocol === 'https:' ? nodeHttps() : nodeHttp;
    return new Promise<Reply>((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(deadline);
        const fault = this.route.kind === 'proxy' ? proxyFaultOf(err, this.route.safe, this.url.host) : undefined;
        if (fault) return reject(proxyError(fault, this.target, err));
        const why = err instanceof Error ? err.message : String(err);
        // The CA bundle held (read at start) past its date, the server's certificate not verifying against it: said so.
        const expired = expiredCertificateError(
          `POST ${this.target} failed`,
          heldTlsFiles({ caFile: this.options.caFile }, { ca: this.ca }),
          why,
          this.target,
          Date.now(),
          RESTART_TO_RENEW_HINT,
        );
        if (expired) return reject(expired);
        const net = networkHint(why, { ca: 'caFile', address: 'url' });
        reject(
          ERRORS.GH_EXPORT_RETRYABLE(
            { reason: `POST ${this.target} failed: ${why}` },
            {
              where: this.target,
              cause: err,
              hint: `${net ?? 'check that the endpoint is reachable'}; the batch is retried with the same request id`,
            },
          ),
        );
      };
      const req = mod.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'X-Amz-Firehose-Request-Id': requestId, 'Content-Length': String(body.length) },
          timeout: this.options.timeoutMs,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const reply = (oversized: boolean): void => {
            clearTimeout(deadline);
            const retryAfter = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              location: res.headers.location,
              retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, Date.now()),
              oversized,
            });
          };
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_RESPONSE_BYTES) {
              chunks.push(c);
              return;
            }
            // An endless or huge body: judge by what came (status, the start of the body) now
            // instead of reading on until timeoutMs; the connection is not reused.
            chunks.push(c.subarray(0, c.length - (size - MAX_RESPONSE_BYTES)));
            res.destroy();
            reply(true);
          });
          res.on('end', () => reply(false));
          res.on('error', fail);
        },
      );
      req.on('timeout', () => req.destroy(new NoResponse(`no response within ${this.options.timeoutMs} ms`)));
      // The socket timeout above only bounds silence: an endpoint (or proxy) trickling its answer a
      // byte at a time would hold the send, and the exporter, for as long as it trickles. timeoutMs
      // also bounds the whole answer, counted from when the body is sent (a slow uplink may take
      // longer than timeoutMs to upload a batch; the idle timeout covers a stalled upload).
      let deadline: NodeJS.Timeout | undefined;
      req.on('finish', () => {
        deadline = setTimeout(() => {
          const err = new NoResponse(`no response within ${this.options.timeoutMs} ms`);
          req.destroy(err);
          fail(err);
        }, this.options.timeoutMs);
      });
      req.on('error', fail);
      req.end(body);
    });
  }
}

/** No (complete) answer within timeoutMs: the reason 'timeout' of a failed call. */
class NoResponse extends Error {}

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
