// One HTTP request and its answer, as the HTTP-based destinations that speak their own protocol over
// node:http need it (http: the Firehose HTTP endpoint protocol; webhook: a user's endpoint): the
// agent (keep-alive, a private CA, a client certificate, the site's proxy), a timeout of silence
// and of the whole answer, a bounded response body, Retry-After read, and a failure turned into
// GH_EXPORT_RETRYABLE (or the proxy's and the expired certificate's errors) naming what to check.
// What the answer means is each protocol's (its judge).
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { nodeHttp } from '../../../core/node-http.js';
import { nodeHttps } from '../../../core/tls-modules.js';
import { ERRORS, isGatehouseError } from '../../../core/errors.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import { readClientTlsFiles } from '../../../core/tls-files.js';
import type { CallFailureReason } from './common.js';
import { networkHint } from './common.js';
import { logRoute, type Route } from '../proxy.js';
import { ProxyFault, findProxyFault, proxyAgents, proxyError, proxyFaultOf } from '../proxy-agent.js';
import { RESTART_TO_RENEW_HINT, expiredCertificateError, heldTlsFiles } from '../cert-expired.js';

export interface HttpReply {
  status: number;
  /** The body's start (up to maxResponseBytes), as UTF-8. */
  body: string;
  /** Location header of a redirect. */
  location?: string | undefined;
  /** Retry-After header (seconds or an HTTP date), in ms from now. */
  retryAfterMs?: number | undefined;
  /** The body passed maxResponseBytes: read no further (body holds its start). */
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
export function retryAfterText(ms: number | undefined): string {
  return ms === undefined ? '' : ` (Retry-After ${Math.round(ms / 1000)} s)`;
}

/** Answers that say the gateway's setup (credentials, url, method, a proxy's login) is wrong, whatever the records. */
const SETUP_STATUS: ReadonlySet<number> = new Set([401, 403, 404, 405, 407]);

/**
 * Throws for an answer about the endpoint rather than the records (the http and webhook
 * destinations share it): 502/503/504, the endpoint (or a proxy in front of it) is down, an
 * outage the loop retries without spending the records' budget (503's Retry-After honoured);
 * 401/403/404/405/407 and 3xx, the gateway's setup is wrong: every record would get the same
 * answer, so the backlog waits with a hint (nothing dead-lettered) and goes out once it is fixed.
 * POSTs are not redirected: the body and the credentials would go where the config did not say.
 * `error` names the answer; `hints` say what to check for a refused url and refused credentials.
 */
export function throwIfEndpointAnswer(reply: HttpReply, error: string, target: string, hints: { url: string; credentials: string }): void {
  const { status, retryAfterMs } = reply;
  if (status === 502 || status === 503 || status === 504)
    throw ERRORS.GH_EXPORT_RETRYABLE(
      { reason: `${error}${status === 503 ? retryAfterText(retryAfterMs) : ''}` },
      {
        where: target,
        hint: 'the endpoint is unavailable; records wait in the local stream',
        ...(status === 503 && retryAfterMs !== undefined ? { details: { retryAfterMs } } : {}),
      },
    );
  if (SETUP_STATUS.has(status))
    throw ERRORS.GH_EXPORT_RETRYABLE(
      { reason: error },
      {
        where: target,
        details: { setup: true },
        hint: `${status === 404 || status === 405 ? hints.url : hints.credentials}; records wait in the local stream`,
      },
    );
  if (status >= 300 && status < 400)
    throw ERRORS.GH_EXPORT_RETRYABLE(
      { reason: `${error}${reply.location ? ` (redirects to ${reply.location.split('?', 1)[0]})` : ''}` },
      {
        where: target,
        details: { setup: true },
        hint: "the endpoint redirects: set the destination's url to the address it points to (redirects are not followed); records wait in the local stream",
      },
    );
}

/** URL without user info or query string: safe for status pages and logs. */
export function safeTarget(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** No (complete) answer within timeoutMs: the reason 'timeout' of a failed call. */
export class NoResponse extends Error {}

/**
 * A batch's id, kept while that batch is retried (the exporter resends exactly the failed batch:
 * same stream, first and last seq, count), so a receiver can drop a batch it already has; any
 * other batch gets a new UUID.
 */
export class BatchIds {
  private pending: { key: string; id: string } | undefined;

  idFor(records: ReadonlyArray<{ stream: string; seq: number }>): string {
    const key = `${records[0]!.stream}:${records[0]!.seq}:${records[records.length - 1]!.seq}:${records.length}`;
    if (this.pending?.key !== key) this.pending = { key, id: randomUUID() };
    return this.pending.id;
  }

  /** The batch went through: the next one gets a new id even if it looks the same. */
  delivered(): void {
    this.pending = undefined;
  }
}

export interface HttpExchangeOptions {
  url: URL;
  /** safeTarget(url): what errors name. */
  target: string;
  route: Route;
  timeoutMs: number;
  rejectUnauthorized: boolean;
  /** The TLS files' bytes as read at start (readClientTlsFiles) and their paths (for the expiry check). */
  tls: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined };
  files: { caFile?: string | undefined; certFile?: string | undefined };
  /** The destination's kind, for the log line of its route. */
  kind: string;
  /** Largest response body read. */
  maxResponseBytes: number;
  /** What a failed request's hint ends with (e.g. 'the batch is retried with the same request id'). */
  retryNote: string;
}

/** What an HTTP-based destination's options say about its connection (webhook, prometheus, http). */
export interface HttpClientOptions {
  timeoutMs: number;
  rejectUnauthorized: boolean;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * The exchange of an HTTP-based destination: its TLS files read and checked as the handshake will
 * use them (a key in caFile, a missing file: a config error naming the key), then the agent.
 */
export function httpExchangeFor(
  o: HttpClientOptions,
  at: { url: URL; target: string; route: Route; kind: string; subject: string; maxResponseBytes: number; retryNote: string },
  log: RuntimeDeps['logger'],
): HttpExchange {
  const tls = readClientTlsFiles(
    { ca: o.caFile, cert: o.certFile, key: o.keyFile },
    { where: { ca: 'destination.caFile', cert: 'destination.certFile', key: 'destination.keyFile' }, subject: at.subject, code: 'GH_DESTINATION_CONFIG' },
  );
  return new HttpExchange(
    {
      url: at.url,
      target: at.target,
      route: at.route,
      timeoutMs: o.timeoutMs,
      rejectUnauthorized: o.rejectUnauthorized,
      tls,
      files: { caFile: o.caFile, certFile: o.certFile },
      kind: at.kind,
      maxResponseBytes: at.maxResponseBytes,
      retryNote: at.retryNote,
    },
    log,
  );
}

/** The agent, keep-alive connections and one request at a time of an HTTP-based destination. */
export class HttpExchange {
  private agent: http.Agent;

  constructor(
    private readonly o: HttpExchangeOptions,
    private readonly log: RuntimeDeps['logger'],
  ) {
    const { ca, cert, key } = o.tls;
    this.agent =
      o.url.protocol === 'https:'
        ? new (nodeHttps().Agent)({
            keepAlive: true,
            maxSockets: 4,
            rejectUnauthorized: o.rejectUnauthorized,
            ...(ca ? { ca } : {}),
            ...(cert && key ? { cert, key } : {}),
          })
        : new nodeHttp.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** Through a proxy: its agents, made now (the proxy agent packages load only when used). */
  async start(): Promise<void> {
    const { route } = this.o;
    if (route.kind === 'proxy') {
      const agents = await proxyAgents(route, {
        keepAlive: true,
        maxSockets: 4,
        ca: this.o.tls.ca,
        cert: this.o.tls.cert,
        key: this.o.tls.key,
        rejectUnauthorized: this.o.rejectUnauthorized,
        // The request's own bound: a CONNECT the proxy never answers ends with the request it was for.
        connectTimeoutMs: this.o.timeoutMs,
      });
      this.agent.destroy();
      this.agent = this.o.url.protocol === 'https:' ? agents.https : agents.http;
    }
    logRoute(this.log.child({ component: 'destination', kind: this.o.kind, target: this.o.target }), route);
  }

  stop(): void {
    this.agent.destroy();
  }

  /** A 407 answered to an http url through a proxy is the proxy's refusal: thrown as its error. */
  throwIfProxyRefused(status: number): void {
    if (status === 407 && this.o.route.kind === 'proxy')
      throw proxyError(new ProxyFault('refused', this.o.route.safe, this.o.url.host, 'HTTP 407 Proxy Authentication Required', 407), this.o.target);
  }

  /** The reason label of a request that failed without an answer (what request() threw). */
  failureReason(err: unknown, signal: AbortSignal): CallFailureReason {
    const fault = findProxyFault(err);
    if (signal.aborted) return 'other';
    if (fault?.status === 407 || fault?.status === 401 || fault?.status === 403) return 'auth';
    if (isGatehouseError(err, 'GH_UPSTREAM_CERT_EXPIRED')) return 'auth';
    return (err as { cause?: unknown }).cause instanceof NoResponse ? 'timeout' : 'network';
  }

  /** Send `body` and read the answer (status, the body's start, Location, Retry-After). */
  request(method: string, headers: Record<string, string>, body: Buffer, signal: AbortSignal): Promise<HttpReply> {
    const { url, target, timeoutMs, maxResponseBytes } = this.o;
    const mod = url.protocol === 'https:' ? nodeHttps() : nodeHttp;
    return new Promise<HttpReply>((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(deadline);
        const fault = this.o.route.kind === 'proxy' ? proxyFaultOf(err, this.o.route.safe, url.host) : undefined;
        if (fault) return reject(proxyError(fault, target, err));
        const why = err instanceof Error ? err.message : String(err);
        // A certificate held (read at start) past its date: said so, with how to renew it.
        const expired = expiredCertificateError(
          `${method} ${target} failed`,
          heldTlsFiles(this.o.files, this.o.tls),
          why,
          target,
          Date.now(),
          RESTART_TO_RENEW_HINT,
        );
        if (expired) return reject(expired);
        const net = networkHint(why, { ca: 'caFile', address: 'url' });
        reject(
          ERRORS.GH_EXPORT_RETRYABLE(
            { reason: `${method} ${target} failed: ${why}` },
            { where: target, cause: err, hint: `${net ?? 'check that the endpoint is reachable'}; ${this.o.retryNote}` },
          ),
        );
      };
      const req = mod.request(
        url,
        { method, agent: this.agent, headers: { ...headers, 'Content-Length': String(body.length) }, timeout: timeoutMs, signal },
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
            if (size <= maxResponseBytes) {
              chunks.push(c);
              return;
            }
            // An endless or huge body: judge by what came (status, the start of the body) now
            // instead of reading on until timeoutMs; the connection is not reused.
            chunks.push(c.subarray(0, c.length - (size - maxResponseBytes)));
            res.destroy();
            reply(true);
          });
          res.on('end', () => reply(false));
          res.on('error', fail);
        },
      );
      req.on('timeout', () => req.destroy(new NoResponse(`no response within ${timeoutMs} ms`)));
      // The socket timeout above only bounds silence: an endpoint (or proxy) trickling its answer a
      // byte at a time would hold the send, and the exporter, for as long as it trickles. timeoutMs
      // also bounds the whole answer, counted from when the body is sent (a slow uplink may take
      // longer than timeoutMs to upload a batch; the idle timeout covers a stalled upload).
      let deadline: NodeJS.Timeout | undefined;
      req.on('finish', () => {
        deadline = setTimeout(() => {
          const err = new NoResponse(`no response within ${timeoutMs} ms`);
          req.destroy(err);
          fail(err);
        }, timeoutMs);
      });
      req.on('error', fail);
      req.end(body);
    });
  }
}
