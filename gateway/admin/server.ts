// Admin HTTP API: health, Prometheus metrics, streams/exporters, rules, clients, links, jobs, status page.
// Loopback by default; a token is required when it listens beyond loopback (checked in config).
// Browser-borne attacks are refused before routing (origin-guard.ts): a Host header that is not
// one of ours (DNS rebinding) gets 421, a state-changing request from another origin (CSRF) 403.
// Records responses are streamed under a byte cap (maxResponseBytes / ?maxBytes=). What it answers
// with (errors and their statuses, JSON replies, body and query limits, records) is in replies.ts.
// With admin.tls it serves HTTPS only (the bearer token and the API never cross the network in
// clear); its certificate is reloaded on SIGHUP like the broker's (tls-reload.ts), and a plain
// HTTP request to it gets a 400 saying to use https:// (http/plain-http-sniff.ts). The server's
// timeouts, connection bound and TLS are http/server.ts's, shared with the http sources.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { PRIVILEGED_PORT_HINT } from '../../core/privileged-port.js';
import { ADMIN_TLS, type ServedTls, type TlsReloadOutcome } from '../broker/tls-reload.js';
import { createHardenedServer, listenOn } from '../http/server.js';
import type { CertExpiryEntry } from '../../core/cert-expiry.js';
import { checkRequestOrigin, hostAllowList } from './origin-guard.js';
import { KNOWN_ROUTES, RECORDS_ROUTE, allowedMethods, requestUrl } from './routes.js';
import { isLoopback } from '../broker/options.js';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Counter } from '../../core/prom-client.js';
import type { RuntimeDeps } from '../../core/deps.js';
import { clocksOf } from '../../core/clock.js';
import { rateLimitedLog } from '../../core/rate-log.js';
import { ERRORS } from '../../core/errors.js';
import type { StoredRecord } from '../store/types.js';
import { deadLetterRoute } from './dead-letter-routes.js';
import type { DeadLetterOps } from './dead-letters.js';
import { streamDropRoute } from './stream-drop-route.js';
import { shadowRoute, type ShadowOps } from './shadow-route.js';
import type { StreamDropOps } from './stream-drop.js';
import { HttpError, RECORDS_MAX_LIMIT, errorReply, parseIntParam, readBody, rejectedBody, sendJson, streamRecords } from './replies.js';
import { urlHost } from '../../core/bind-host.js';

export interface AdminOptions {
  host: string;
  port: number;
  /** Bearer token; required by config validation when host is not loopback. */
  token?: string;
  /** Largest accepted request body (PUT /api/rules). */
  maxBodyBytes: number;
  /** Extra names accepted in the Host header (DNS rebinding protection). */
  allowedHosts?: string[];
  /** Cap of a records response in bytes (default 4 MiB). */
  maxResponseBytes?: number;
  /** Connections open at once; one more is closed when accepted (default 64). */
  maxConnections?: number;
  /** Serve HTTPS with these PEM files (absolute paths; config/index.ts resolves them). */
  tls?: { cert: string; key: string } | undefined;
  /** With tls: a connection silent this long before its first byte, or whose TLS handshake takes longer, is closed (default: the headers timeout, 10 s). */
  firstByteTimeoutMs?: number;
}

/** What the admin API reads from the running gateway. Every method returns JSON-serialisable data. */
export interface AdminSource {
  health(): { ok: boolean; [k: string]: unknown };
  streams(): unknown[];
  streamNames(): string[];
  /** maxBytes: soft cap on summed payload bytes (at least one record is returned if any). */
  readRecords(stream: string, fromSeq: number, limit: number, maxBytes?: number): Promise<StoredRecord[]>;
  rules(): unknown;
  clients(): unknown[];
  links(): unknown[];
  /** GET /api/jobs: every scheduled job (control/jobs.ts JobStatus): schedule, last run, next run, counts. */
  jobs?(): unknown[];
  /** GET /api/sources: every source's status (pipeline/contract.ts SourceStatus). */
  sources?(): unknown[];
  /** PUT /api/rules body (a rule set, YAML or JSON); resolves with the resulting status. probation: ?probation=1. */
  applyRules?(body: Buffer, contentType: string | undefined, force: boolean, probation: boolean): Promise<unknown>;
  rollbackRules?(): Promise<unknown>;
  /** Extra routes (status page assets) served as-is: path -> [contentType, body]. */
  staticFiles?(): Map<string, [string, string | Buffer]>;
  /** Recent events for the status page (alerts, errors). */
  events?(): unknown[];
  /** Everything the status page shows, in one call. */
  overview?(): unknown;
  /** Dead letters: list, redrive, purge (dead-letter-routes.ts). */
  deadLetters?: DeadLetterOps;
  /** Drop a stream nothing uses (stream-drop-route.ts). */
  streamDrop?: StreamDropOps;
  /** The local Device Shadows: list, get, update, delete (shadow-route.ts). */
  shadows?: ShadowOps;
}

export interface AdminServer {
  /** Listen. A stop() while it runs wins: it then resolves without serving (nothing left listening). */
  start(): Promise<void>;
  /** Close every connection and the listener. Idempotent; during a start, it waits for the start to end. */
  stop(): Promise<void>;
  address(): { host: string; port: number; tls: boolean };
  /** Read admin.tls's files again and serve them to new connections when they changed (SIGHUP). */
  reloadTls(): Promise<TlsReloadOutcome[]>;
  /** The certificate admin.tls serves, as last read (none without admin.tls). */
  servedCertificates(): CertExpiryEntry[];
}

const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Connections open at once (admin.maxConnections). */
const DEFAULT_MAX_CONNECTIONS = 64;
/**
 * The refusals' warnings (a Host or Origin refused, a connection over maxConnections closed): one
 * line a minute per kind, with the count since (`suppressed`), as the broker's bounded warnings. A
 * hostile page retrying in a loop, or a scraper fleet past the bound, wrote one every 10 s until
 * round 33: 360 an hour in a journal on the SD card.
 */
export const ADMIN_REFUSAL_LOG_EVERY_MS = 60_000;

/** The answer to a request no route took: 405 naming the methods the path takes (`Allow`), or 404 for an unknown path. */
function notRouted(sentMethod: string | undefined, path: string): HttpError {
  const allowed = allowedMethods(path);
  if (allowed) {
    const allow = allowed.join(', ');
    return HttpError.of(405, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: `method ${sentMethod} not allowed on ${path}; allowed: ${allow}` }), { allow });
  }
  return HttpError.of(404, ERRORS.GH_ADMIN_NOT_FOUND({ what: `route ${sentMethod} ${path}` }, { hint: `routes: ${KNOWN_ROUTES.join(', ')}` }));
}

export function createAdminServer(options: AdminOptions, deps: RuntimeDeps & { source: AdminSource }): AdminServer {
  const { source, registry, logger } = deps;
  const requests = new Counter({
    name: 'gatehouse_admin_requests_total',
    help: 'Admin API requests by status class',
    labelNames: ['status'],
    registers: [registry],
  });
  const refused = new Counter({
    name: 'gatehouse_admin_refused_total',
    help: 'Admin API requests refused before routing, by reason (host: unknown Host header; origin: cross-origin state change)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'gatehouse_admin_connections_dropped_total',
    help: 'Connections to the admin API closed as soon as accepted: admin.maxConnections were open',
    registers: [registry],
  });
  const tokenBuf = options.token ? Buffer.from(options.token) : undefined;
  // The Host check is for loopback, where a rebinding page is the way in; beyond loopback a token
  // is required (config check) and the admin is reached by names we cannot list.
  const allowedHosts = isLoopback(options.host) ? hostAllowList(options.host, options.allowedHosts ?? []) : undefined;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let server: Server | undefined;
  let servedTls: ServedTls | undefined;
  let closeServer: (() => Promise<void>) | undefined;
  // on the monotonic clock: a wall clock stepped back would mute it for the size of the step
  const refusalLog = rateLimitedLog(logger, 'warn', ADMIN_REFUSAL_LOG_EVERY_MS, clocksOf(deps).monotonic);
  // A stop during the start: counted, so the start sees it after each wait; the start in progress,
  // so the stop closes what it opened.
  let stops = 0;
  let starting: Promise<void> | undefined;

  const authorized = (req: IncomingMessage): boolean => {
    if (!tokenBuf) return true;
    // RFC 7235: the auth scheme is case-insensitive ("bearer", "Bearer", "BEARER").
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(m ? (m[1] as string) : '');
    return given.length === tokenBuf.length && timingSafeEqual(given, tokenBuf);
  };

  /** Aborted when the client goes away (its socket closed) before its answer was sent: a redrive stops at a chunk boundary. */
  function clientGone(res: ServerResponse): AbortSignal {
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    return gone.signal;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    const path = url.pathname;
    // HEAD is GET without the body (node sends no body for a HEAD request): monitors and load balancers use it.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const verdict = checkRequestOrigin(req, allowedHosts);
    if (verdict) {
      refused.inc({ reason: verdict.reason });
      refusalLog(
        `refused:${verdict.reason}`,
        { reason: verdict.reason, host: req.headers.host, origin: req.headers.origin, method, path },
        'admin API request refused',
      );
      throw new HttpError(verdict.status, 'GH_ADMIN_FORBIDDEN', verdict.message, verdict.hint);
    }
    if (path === '/healthz') {
      // Public (monitors send no token): a wrong method on it gets its 405 and Allow with a token
      // set too (it got 401). The token routes keep authenticating first: without the token, any
      // method on any path gets 401, telling nothing of the routes behind it.
      if (method !== 'GET') throw notRouted(req.method, path);
      const h = source.health();
      return sendJson(res, h.ok ? 200 : 503, h);
    }
    // The status page's own files hold no data, and a browser cannot add a bearer header to a
    // plain navigation: they are served without the token; the page then asks for it (docs/status-page.md).
    const file = method === 'GET' ? source.staticFiles?.().get(path === '/' ? '/index.html' : path) : undefined;
    if (file) {
      // No framing by other sites (clickjacking): a <meta> CSP cannot say frame-ancestors, a header can.
      res.writeHead(200, {
        'content-type': file[0],
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "frame-ancestors 'none'",
        'x-frame-options': 'DENY',
      });
      res.end(file[1]);
      return;
    }
    if (!authorized(req)) throw HttpError.of(401, ERRORS.GH_ADMIN_UNAUTHORIZED({}), { 'www-authenticate': 'Bearer realm="gatehouse admin"' });
    if (path === '/metrics' && method === 'GET') {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/api/streams' && method === 'GET') return sendJson(res, 200, { streams: source.streams() });
    const m = RECORDS_ROUTE.exec(path);
    if (m && method === 'GET') {
      let name: string;
      try {
        name = decodeURIComponent(m[1] ?? '');
      } catch {
        throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: 'stream name in the path is not valid percent-encoding' }));
      }
      if (!source.streamNames().includes(name))
        throw HttpError.of(
          404,
          ERRORS.GH_ADMIN_NOT_FOUND({ what: `local stream '${name}'` }, { hint: `known streams: ${source.streamNames().join(', ') || '(none)'}` }),
        );
      const from = parseIntParam(url.searchParams.get('from'), 'from', 1, 0, Number.MAX_SAFE_INTEGER);
      const limit = parseIntParam(url.searchParams.get('limit'), 'limit', 100, 1, RECORDS_MAX_LIMIT);
      const maxBytes = parseIntParam(url.searchParams.get('maxBytes'), 'maxBytes', maxResponseBytes, 1, maxResponseBytes);
      return streamRecords(res, source, name, from, limit, maxBytes);
    }
    if (path === '/api/rules' && method === 'GET') return sendJson(res, 200, source.rules());
    if (path === '/api/rules' && method === 'PUT' && source.applyRules) {
      const body = await readBody(req, options.maxBodyBytes);
      const flag = (name: string): boolean => url.searchParams.get(name) === '1';
      const result = (await source.applyRules(body, req.headers['content-type'], flag('force'), flag('probation'))) as Parameters<typeof rejectedBody>[0];
      // A rejected rule set is the client's error: 400 with every error listed in the body.
      return result.state === 'rejected' ? sendJson(res, 400, rejectedBody(result)) : sendJson(res, 200, result);
    }
    if (path === '/api/rules/rollback' && method === 'POST' && source.rollbackRules) {
      const result = (await source.rollbackRules()) as Parameters<typeof rejectedBody>[0];
      return result.state === 'rejected' ? sendJson(res, 409, rejectedBody(result)) : sendJson(res, 200, result);
    }
    if (path === '/api/clients' && method === 'GET') return sendJson(res, 200, { clients: source.clients() });
    if (path === '/api/links' && method === 'GET') return sendJson(res, 200, { links: source.links() });
    if (path === '/api/sources' && method === 'GET' && source.sources) return sendJson(res, 200, { sources: source.sources() });
    if (path === '/api/jobs' && method === 'GET') return sendJson(res, 200, { jobs: source.jobs?.() ?? [] });
    if (path === '/api/events' && method === 'GET') return sendJson(res, 200, { events: source.events?.() ?? [] });
    if (path === '/api/overview' && method === 'GET' && source.overview) return sendJson(res, 200, source.overview());
    const dead = await deadLetterRoute(method, path, url, source.deadLetters, clientGone(res));
    if (dead) return sendJson(res, dead[0], dead[1]);
    const drop = await streamDropRoute(method, path, url, source.streamDrop);
    if (drop) return sendJson(res, drop[0], drop[1]);
    const shadow = await shadowRoute(method, path, url, req, options.maxBodyBytes, source.shadows);
    if (shadow) return sendJson(res, shadow[0], shadow[1]);
    throw notRouted(req.method, path);
  }

  function handler(req: IncomingMessage, res: ServerResponse): void {
    route(req, res).then(
      () => requests.inc({ status: `${Math.floor(res.statusCode / 100)}xx` }),
      (err: unknown) => {
        const { status, body, headers } = errorReply(err, logger);
        requests.inc({ status: `${Math.floor(status / 100)}xx` });
        if (!res.headersSent) sendJson(res, status, body, headers);
        else res.destroy();
      },
    );
  }

  return {
    start() {
      const run = listen(stops);
      starting = run.catch(() => undefined);
      return run;
    },
    async reloadTls() {
      return servedTls ? servedTls.reload() : [];
    },
    servedCertificates: () => servedTls?.expiryEntries() ?? [],
    async stop() {
      stops++;
      // A start still reading the TLS files or binding ends first. Before, a stop then found no
      // server and the start listened after it (HTTPS), or closed the server before it listened
      // and the start waited for ever for its 'listening' (HTTP).
      await starting;
      if (!server) return;
      server = undefined;
      await closeServer?.();
    },
    address() {
      const a = server?.address() as AddressInfo | null | undefined;
      return { host: options.host, port: a?.port ?? options.port, tls: options.tls !== undefined };
    },
  };

  /** start(): `stopsBefore` tells whether a stop came since it began (it then returns, serving nothing). */
  async function listen(stopsBefore: number): Promise<void> {
    const hardened = await createHardenedServer(
      {
        name: 'admin',
        tls: options.tls ? { files: options.tls, kind: ADMIN_TLS, index: 0 } : undefined,
        maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        onDrop: () => {
          dropped.inc();
          refusalLog('dropped', { maxConnections: server?.maxConnections }, 'admin API: admin.maxConnections connections open, a new one was closed');
        },
        firstByteTimeoutMs: options.firstByteTimeoutMs,
        plainHttp: {
          what: 'admin API',
          metric: {
            name: 'gatehouse_admin_plain_http_total',
            help: 'Connections to the HTTPS admin API (admin.tls) that did not open with a TLS handshake (plain HTTP, other bytes): answered 400 and closed',
          },
          answer: (url) =>
            ERRORS.GH_ADMIN_PLAIN_HTTP(
              { url },
              {
                hint: `use ${url} (https://, not http://; or a name the admin certificate carries); the CLI trusts the certificate with --config FILE (it reads admin.tls.cert), or GATEHOUSE_ADMIN_CA=<PEM file of the CA that issued it>`,
              },
            ),
        },
      },
      handler,
      { logger, registry, now: clocksOf(deps).now, monotonic: clocksOf(deps).monotonic },
    );
    if (stops !== stopsBefore) return;
    closeServer = hardened.close;
    servedTls = hardened.servedTls;
    server = hardened.server;
    try {
      await listenOn(server, options.port, options.host);
    } catch (err) {
      throw ERRORS.GH_ADMIN_LISTEN(
        { host: urlHost(options.host), port: options.port, reason: (err as Error).message },
        {
          where: 'admin',
          hint:
            (err as NodeJS.ErrnoException).code === 'EACCES'
              ? PRIVILEGED_PORT_HINT
              : 'choose another admin.port (or --admin-port), or stop the process holding it',
          cause: err,
        },
      );
    }
    if (stops !== stopsBefore) return; // the stop, waiting for this start, closes the server
    servedTls?.start();
    logger.info({ host: options.host, port: (server.address() as AddressInfo).port, tls: options.tls !== undefined }, 'admin API listening');
  }
}
