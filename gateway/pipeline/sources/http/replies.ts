// The answers of an http source and their counters. Every answer is JSON: {"message":"OK",...} for
// a committed request (AWS IoT's body), {"message": <why>, "error": {code, message, hint}} for a
// refusal. A refusal sent before the body was read closes the connection (Connection: close): the
// body left unread is never drained into memory or waited for.
import type { ServerResponse } from 'node:http';
import type { Counter, Registry } from 'prom-client';
import type { GatehouseError } from '../../../../core/errors.js';
import { counter } from '../../../../core/metrics.js';

/**
 * Outcomes of requests (gatehouse_http_source_requests_total's label):
 * accepted (committed, 200), client-gone (committed, the client left before its 200: it sends again),
 * aborted (the client left before its body was read: nothing taken), bad-request, not-found, method,
 * too-large, unauthorized, forbidden, banned, busy (503: maxInFlight, stopping), store-refused
 * (503: the store refused a commit: disk full, stream full), failed (500).
 */
export type Outcome =
  | 'accepted'
  | 'client-gone'
  | 'aborted'
  | 'bad-request'
  | 'not-found'
  | 'method'
  | 'too-large'
  | 'unauthorized'
  | 'forbidden'
  | 'banned'
  | 'busy'
  | 'store-refused'
  | 'failed';

export interface HttpSourceMetrics {
  requests: Counter<'source' | 'outcome'>;
  messages: Counter<'source'>;
  bytes: Counter<'source'>;
  dropped: Counter<'source'>;
}

export function httpSourceMetrics(registry: Registry): HttpSourceMetrics {
  return {
    requests: counter(
      registry,
      'gatehouse_http_source_requests_total',
      'Requests to http sources by outcome: accepted (committed, 200), client-gone (committed, the client left before its answer), aborted (left before its body was read: nothing taken), bad-request, not-found, method, too-large, unauthorized, forbidden, banned, busy, store-refused, failed',
      ['source', 'outcome'],
    ),
    messages: counter(registry, 'gatehouse_http_source_messages_total', 'Messages of http sources committed (a 200 was sent, or its client had left)', [
      'source',
    ]),
    bytes: counter(registry, 'gatehouse_http_source_bytes_total', 'Payload bytes of the messages of http sources committed', ['source']),
    dropped: counter(
      registry,
      'gatehouse_http_source_connections_dropped_total',
      'Connections to http sources closed as soon as accepted: maxConnections were open',
      ['source'],
    ),
  };
}

export interface AnswerOptions {
  /** Close the connection after the answer (the body was not read). */
  close?: boolean;
  retryAfterSeconds?: number;
  headers?: Record<string, string>;
}

/** Send a JSON answer (nothing when the client has gone). */
export function sendJson(res: ServerResponse, status: number, body: unknown, options: AnswerOptions = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...options.headers,
  };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = options.retryAfterSeconds;
  if (options.close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

/** The body of a refusal: the reason, and the catalogue error (code, hint). */
export function errorBody(err: GatehouseError): Record<string, unknown> {
  return { message: err.message, error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
}
