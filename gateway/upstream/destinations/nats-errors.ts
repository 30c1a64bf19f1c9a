// What NATS and JetStream errors mean: a record's failure as a result (too large, a stream at its
// limits, no stream for the subject, a timeout; retryable or not, with what to change), the
// client's status codes in words, and the hint of send()'s not-connected error (credentials or the
// network). Apart from nats.ts (the connection and the sends), which reports through these.
import type { RecordResult } from '../types.js';
import { networkHint, shortError } from './common.js';

/** Connection errors that mean the server refused who we are. */
const AUTH_ERROR = /authori[sz]ation|authentication|account expired|user authentication|permissions/i;

export const NATS_CODES: Record<string, string> = {
  AUTHORIZATION_VIOLATION: "Authorization Violation: the server refused this gateway's credentials",
  AUTHENTICATION_EXPIRED: 'Authentication Expired: the credentials have expired',
  ACCOUNT_EXPIRED: 'Account Expired',
};

/** A client status error code (AUTHORIZATION_VIOLATION) as words for status and logs. */
export function describeNatsCode(code: string): string {
  return NATS_CODES[code] ?? code;
}

/** JetStream's refusals of a stream at its limits (discard: new). */
const STREAM_FULL = /maximum (messages|bytes|messages per subject) exceeded|insufficient resources|resource limits exceeded/i;

export interface NatsErrorLike {
  code?: string;
  api_error?: { err_code?: number; code?: number; description?: string };
  message?: string;
}

/** What a record's failure is told with: its size, the server's max_payload (when known), its subject and the destination's stream. */
export interface PublishContext {
  bytes: number;
  maxPayload: number | undefined;
  subject: string;
  stream: string;
}

/** A record JetStream did not acknowledge, as its result. */
export function recordFailure(err: unknown, ctx: PublishContext): RecordResult {
  const { bytes, maxPayload, subject, stream } = ctx;
  const e = (typeof err === 'object' && err !== null ? err : {}) as NatsErrorLike;
  const error = shortError(err);
  // What the bare MAX_PAYLOAD_EXCEEDED leaves out: the sizes, and what to change.
  if (e.code === 'MAX_PAYLOAD_EXCEEDED')
    return {
      ok: false,
      retryable: false,
      error: `${error}: record of ${bytes} bytes exceeds the server's max_payload of ${maxPayload ?? '?'} bytes; raise max_payload in the NATS server's config, or set the destination's maxRecordBytes to at most it`,
      code: 'TOO_LARGE',
    };
  if (e.api_error?.err_code === 10054)
    return { ok: false, retryable: false, error: `${error} (record of ${bytes} bytes; check the JetStream stream's max_msg_size)`, code: 'TOO_LARGE' };
  // A stream at its limits (discard: new) refuses with the same 503 as no stream at all, told apart
  // by its API error: the destination is full, not the record at fault nor the subject wrong. Like
  // throttling, never counted against the record, and the loop slows down until there is room.
  const api = e.api_error;
  if (api && typeof api.description === 'string' && STREAM_FULL.test(api.description))
    return {
      ok: false,
      retryable: true,
      error: `JetStream refused the record: ${api.description} (the stream is at its limits with discard: new): raise its max_msgs/max_bytes or let its consumers remove messages; records wait in the local stream`,
      code: 'THROTTLED',
    };
  if (e.code === '503' && !api)
    return {
      ok: false,
      retryable: true,
      error: `no JetStream stream captures subject '${subject}' (${error}): add it to the subjects of stream '${stream}' (nats stream edit ${stream} --subjects ...) or change the destination's subject`,
      code: 'NO_STREAM',
      setup: true,
    };
  // The server's publish permissions (its authorization block) do not cover the subject. This and
  // the missing stream are the setup (`setup`): retried at the normal pace while nothing goes through.
  if (e.code === 'PERMISSIONS_VIOLATION')
    return {
      ok: false,
      retryable: true,
      error: `the NATS server refused the publish to '${subject}' (${error}): give the destination's user publish permission on it (authorization: permissions: publish) or change the destination's subject`,
      code: 'PERMISSIONS_VIOLATION',
      setup: true,
    };
  if (e.code === 'TIMEOUT') return { ok: false, retryable: true, error, code: 'TIMEOUT' };
  return { ok: false, retryable: true, error, code: e.code ?? 'NATS_ERROR' };
}

/** What a user without JetStream's API in its publish permissions needs (the stream check, and each publish's ack). */
export const JS_API_PERMISSION_HINT =
  "give the destination's user publish permission on $JS.API.> (JetStream's API: the stream check) and subscribe permission on _INBOX.> (the acknowledgements), beside the subjects it publishes to; the records wait in the local stream";

/** send()'s hint while not connected: the credentials when the server refused them, else the network. */
export function notConnectedHint(why: string | undefined): string {
  return why && AUTH_ERROR.test(why)
    ? "the server refused the credentials: check the destination's user/password, token or credsFile and the server's authorization; the client keeps reconnecting"
    : `${networkHint(why, { ca: 'tls.caFile', address: 'servers' }) ?? 'check that the NATS server is reachable'}; the client keeps reconnecting`;
}

/** The reason label of a call that failed before any record went (common.ts CallFailureReason): the credentials the server refused, else `otherwise`. */
export function natsCallReason(why: string | undefined, otherwise: 'network' | 'server'): 'auth' | 'network' | 'server' {
  return why && AUTH_ERROR.test(why) ? 'auth' : otherwise;
}
