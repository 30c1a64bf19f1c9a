// What the admin API answers with, apart from server.ts (listening, TLS, the token, routing):
// the API's error (HttpError, a GatehouseError with its HTTP status and headers) and how any
// error thrown by a route maps to a status and a `{ error: { code, message, hint } }` body;
// JSON replies, a refused rule update's body; reading a request body and a query parameter
// under their limits; and a records response streamed record by record under a byte cap.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { drainedOrClosed } from '../../core/drained.js';
import { ERROR_CATALOGUE, ERRORS, GatehouseError, errorMessage, type ErrorCode } from '../../core/errors.js';
import type { StoredRecord } from '../store/types.js';

/** Largest ?limit= of a records request. */
export const RECORDS_MAX_LIMIT = 1000;
/** Records read from the store per step while streaming a response. */
const RECORDS_STEP = 100;

/** Where a records response reads from (AdminSource.readRecords). */
export interface RecordsReader {
  /** maxBytes: soft cap on summed payload bytes (at least one record is returned if any). */
  readRecords(stream: string, fromSeq: number, limit: number, maxBytes?: number): Promise<StoredRecord[]>;
}

export class HttpError extends GatehouseError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    hint?: string,
    readonly headers: Record<string, string> = {},
  ) {
    // Each code owns its hint (the catalogue) unless the route gives a more precise one.
    super(code, message, { hint: hint ?? ERROR_CATALOGUE[code].hint });
  }

  /** A catalogue error (`ERRORS.GH_...(params)`: its message and hint) as the API's answer with `status`. */
  static of(status: number, err: GatehouseError, headers: Record<string, string> = {}): HttpError {
    return new HttpError(status, err.code, err.message, err.hint, headers);
  }
}

/**
 * A refused rule update in the API's error shape, `{ error: { code, message, hint } }`, with the
 * rule status document beside it (state, version, every error with its rule and place).
 */
export function rejectedBody(result: { state?: string; code?: ErrorCode; errors?: Array<{ rule: string; where: string; message: string }> }): unknown {
  const code: ErrorCode = result.code ?? 'GH_RULESET_INVALID';
  const hint = ERROR_CATALOGUE[code].hint;
  const errors = result.errors ?? [];
  const first = errors[0];
  const message =
    first === undefined
      ? 'rule set refused'
      : `${first.rule ? `rule ${first.rule}: ` : ''}${withoutOwnCode(first.message, code, hint)}${errors.length > 1 ? ` (and ${errors.length - 1} more: see errors)` : ''}`;
  return { error: { code, message, hint }, ...result };
}

/**
 * An entry of errors[] says its code and its fix in its message ("GH_...: what. Fix: how"). When
 * it is the refusal's own code (a rollback with nowhere to go), error.code and error.hint say them
 * already: error.message keeps the what alone instead of repeating both.
 */
function withoutOwnCode(message: string, code: ErrorCode, hint: string): string {
  if (!message.startsWith(`${code}: `)) return message;
  const what = message.slice(code.length + 2);
  const fix = `. Fix: ${hint}`;
  return what.endsWith(fix) ? what.slice(0, -fix.length) : what;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function parseIntParam(value: string | null, name: string, fallback: number, min: number, max: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d+$/.test(value))
    throw HttpError.of(
      400,
      ERRORS.GH_ADMIN_BAD_REQUEST(
        { reason: `query parameter '${name}' must be a whole number, got '${value.slice(0, 40)}'` },
        { hint: `e.g. ?${name}=${fallback}` },
      ),
    );
  const n = Number(value);
  if (n < min || n > max)
    throw HttpError.of(400, ERRORS.GH_ADMIN_BAD_REQUEST({ reason: `query parameter '${name}' must be between ${min} and ${max}, got ${n}` }));
  return n;
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  // Refused from its Content-Length before a byte is read; a chunked body once it passes the limit.
  if (declared > limit) throw HttpError.of(413, ERRORS.GH_ADMIN_TOO_LARGE({ bytes: declared, limit }));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Past the limit the rest is read and dropped, and the 413 sent once the body ends: leaving the
    // loop destroyed the socket mid-upload, and the client saw a reset instead of this answer. An
    // endless body is cut by the server's requestTimeout.
    if (size > limit) chunks.length = 0;
    else chunks.push(chunk as Buffer);
  }
  if (size > limit) throw HttpError.of(413, ERRORS.GH_ADMIN_TOO_LARGE({ bytes: size, limit }));
  return Buffer.concat(chunks);
}

function recordJson(r: StoredRecord): Record<string, unknown> {
  // Payload as UTF-8 when it is valid UTF-8 text, else base64 (binary telemetry).
  const text = r.payload.toString('utf8');
  const isText = Buffer.byteLength(text) === r.payload.length && !text.includes('\uFFFD');
  return {
    seq: r.seq,
    topic: r.topic,
    receivedAt: new Date(r.receivedAt).toISOString(),
    key: r.key,
    attrs: r.attrs,
    ...(isText ? { payload: text } : { payloadBase64: r.payload.toString('base64') }),
  };
}

/**
 * { stream, records: [...], next, truncated } written record by record under a byte cap, reading
 * the store a step at a time: memory stays bounded whatever the records' size. `next` is where
 * to continue; `truncated` says the byte cap (not the count or the end) stopped it.
 */
export async function streamRecords(res: ServerResponse, source: RecordsReader, name: string, from: number, limit: number, maxBytes: number): Promise<void> {
  let next = from;
  let count = 0;
  let bytes = 0;
  let truncated = false;
  let started = false;
  // The client went away (or the admin API stopped, closing every connection): nothing more is
  // read or written. A socket closed never emits 'drain': waiting for it alone, the handler never
  // ended and held the records it had read (up to maxResponseBytes) for good.
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  const write = async (text: string): Promise<void> => {
    bytes += Buffer.byteLength(text);
    if (!res.write(text) && !closed) await drainedOrClosed(res);
  };
  while (count < limit && !truncated && !closed) {
    const recs = await source.readRecords(name, next, Math.min(RECORDS_STEP, limit - count), Math.max(1, maxBytes - bytes));
    if (!started) {
      // Headers only once the first read worked, so a store error is still a clean JSON error.
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      started = true;
      await write(`{"stream":${JSON.stringify(name)},"records":[`);
    }
    if (recs.length === 0) break;
    for (const r of recs) {
      const text = JSON.stringify(recordJson(r));
      // The first record always goes (a client must be able to make progress), later ones only
      // within the cap.
      if (count > 0 && bytes + text.length + 1 > maxBytes) {
        truncated = true;
        break;
      }
      await write(count === 0 ? text : `,${text}`);
      count++;
      next = r.seq + 1;
      if (count >= limit || closed) break;
    }
  }
  if (closed) return;
  if (!started) res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${started ? '' : `{"stream":${JSON.stringify(name)},"records":[`}],"next":${next},"truncated":${truncated}}`);
}

/** The status, body and headers answering an error a route threw (unknown errors are logged: a 500 with GH_INTERNAL). */
export function errorReply(err: unknown, logger: Logger): { status: number; body: Record<string, unknown>; headers: Record<string, string> } {
  let status = 500;
  let body: Record<string, unknown>;
  let headers: Record<string, string> = {};
  if (err instanceof HttpError) {
    status = err.status;
    headers = err.headers;
    body = { error: err.toJSON() };
  } else if (err instanceof GatehouseError) {
    status =
      err.code === 'GH_RULESET_INVALID' ||
      err.code === 'GH_RULESET_STALE' ||
      err.code === 'GH_RULESET_SIGNATURE' ||
      err.code === 'GH_SQL_SYNTAX' ||
      err.code === 'GH_SQL_SEMANTIC'
        ? 400
        : // The store cannot take it now (a full disk, a start waiting for space): retry later.
          err.code === 'GH_STORE_DISK_FULL'
          ? 503
          : 500;
    body = { error: err.toJSON() };
  } else {
    logger.error({ err }, 'admin API request failed');
    body = { error: { code: 'GH_INTERNAL', message: errorMessage(err) } };
  }
  return { status, body, headers };
}
