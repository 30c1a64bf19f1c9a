// Small helpers shared by the destinations (file, http, kinesis, firehose, s3, mqtt, nats):
// per-destination metrics, limit checks, and compiled string templates.
import { certificateNotVerified } from '../../../core/tls-files.js';
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../../core/metrics.js';
import { ERRORS, isGatehouseError, type GatehouseError, type GatehouseErrorOptions } from '../../../core/errors.js';
import { fieldParts, legacyNote, scanTemplate, type TemplatePart, type TemplatePiece } from '../../../core/template.js';
import { formatProblems, type ConfigProblem } from '../../../core/validation.js';
import type { StoredRecord } from '../../store/types.js';
import type { DestinationLimits, RecordResult } from '../types.js';

// The compiled form and its rendering live in core/template.ts (the MQTT source's clientId uses them too).
export { renderTemplate, type TemplatePart } from '../../../core/template.js';

/** Metrics every cloud destination reports; created once per registry and shared by label. */
export interface DestinationMetrics {
  /** Remote calls by outcome: ok | partial | retryable | permanent; a failed one (retryable, permanent) with its reason (CALL_FAILURE_REASONS). */
  calls: Counter<'kind' | 'target' | 'outcome' | 'reason'>;
  /** Records the remote (or a local check) rejected, by code. */
  recordFailures: Counter<'kind' | 'target' | 'code'>;
  /** Records acknowledged without sending (e.g. MQTT loop prevention). */
  skipped: Counter<'kind' | 'target' | 'reason'>;
}

export function destinationMetrics(registry: Registry): DestinationMetrics {
  return {
    calls: counter(
      registry,
      'gatehouse_destination_calls_total',
      'Calls made by cloud destinations to their remote service, by outcome (ok, partial, retryable, permanent); a failed call (retryable, permanent) by reason: throttled, auth, network, timeout, server, client, io, other',
      ['kind', 'target', 'outcome', 'reason'],
    ),
    recordFailures: counter(
      registry,
      'gatehouse_destination_record_failures_total',
      'Rejections of records by a destination (remote per-record errors and local limit checks), by code: per request, so a record refused again in each half of a split batch counts each time (records dead-lettered: gatehouse_export_dead_letters_total)',
      ['kind', 'target', 'code'],
    ),
    skipped: counter(registry, 'gatehouse_destination_skipped_total', 'Records acknowledged without sending (loop prevention), by reason', [
      'kind',
      'target',
      'reason',
    ]),
  };
}

/**
 * Why a whole call failed (the reason label of gatehouse_destination_calls_total): a fixed set, so
 * alerts can tell a quota from a wrong key from a network down. throttled: the service said slow
 * down (429, ThrottlingException); auth: credentials or permissions refused (401, 403, 407, a
 * refused CONNECT); network: no answer (refused, reset, DNS, TLS, not connected); timeout: no
 * complete answer in time; server: the service failed (5xx) or answered outside its protocol;
 * client: the request was refused as wrong (other 4xx, a redirect, a missing stream or bucket);
 * io: the local disk (file destination); other: none of these.
 */
export type CallFailureReason = 'throttled' | 'auth' | 'network' | 'timeout' | 'server' | 'client' | 'io' | 'other';

/** The reason of an HTTP answer that failed a call (a 2xx here is one outside the protocol). */
export function httpStatusReason(status: number): CallFailureReason {
  if (status === 429) return 'throttled';
  if (status === 401 || status === 403 || status === 407) return 'auth';
  if (status === 408) return 'timeout';
  if (status >= 500 || (status >= 200 && status < 300)) return 'server';
  return 'client';
}

/**
 * The reason of a call whose every record failed on its own (MQTT, NATS: each publish refused or
 * unanswered), from a record's code: an ACL or permission refusal is auth, a quota throttled, a
 * missing stream or a record too large client, no answer timeout, a link lost network.
 */
export function recordCodeReason(code: string | undefined): CallFailureReason {
  switch (code) {
    case 'THROTTLED':
      return 'throttled';
    case 'NOT_AUTHORIZED':
    case 'PERMISSIONS_VIOLATION':
      return 'auth';
    case 'TIMEOUT':
      return 'timeout';
    case 'CUT_OFF':
    case 'DISCONNECTED':
      return 'network';
    case 'TOO_LARGE':
    case 'UNMAPPED':
    case 'NO_STREAM':
    case 'TOPIC_INVALID':
    case 'UNENCODABLE':
      return 'client';
    default:
      return 'server';
  }
}

/**
 * The outcome (and, for a failed call, the reason) of a send whose records each got their own
 * result: ok, partial, or every record failed: retryable (permanent when none may be retried),
 * with the reason of its first failure of that kind (recordCodeReason).
 */
export function sendOutcome(results: readonly RecordResult[]): { outcome: 'ok' | 'partial' | 'retryable' | 'permanent'; reason?: CallFailureReason } {
  let first: (RecordResult & { ok: false }) | undefined;
  let firstRetryable: (RecordResult & { ok: false }) | undefined;
  let failed = 0;
  for (const r of results) {
    if (r.ok) continue;
    failed++;
    first ??= r;
    if (r.retryable) firstRetryable ??= r;
  }
  if (first === undefined) return { outcome: 'ok' };
  if (failed < results.length) return { outcome: 'partial' };
  // A retryable failure decides the outcome (the batch is held): its reason is the call's.
  if (firstRetryable) return { outcome: 'retryable', reason: recordCodeReason(firstRetryable.code) };
  return { outcome: 'permanent', reason: recordCodeReason(first.code) };
}

export const OK: RecordResult = Object.freeze({ ok: true }) as RecordResult;

/** Fill `results` at the given indexes with one shared failure. */
export function failAll(results: RecordResult[], indexes: readonly number[], failure: RecordResult): void {
  for (const i of indexes) results[i] = failure;
}

/**
 * Split record indexes into calls that respect the limits (the loop already batches within
 * them; this keeps a direct caller from tripping a service-side validation of the whole call).
 * `size` is the bytes one record costs in the call. Oversized records are left out (caller
 * marks them permanent).
 */
export function chunkIndexes<T = StoredRecord>(
  records: readonly T[],
  limits: DestinationLimits,
  size: (r: T, i: number) => number,
  oversized: number[],
): number[][] {
  const chunks: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const s = size(records[i]!, i);
    if (s > limits.maxRecordBytes) {
      oversized.push(i);
      continue;
    }
    if (cur.length > 0 && (cur.length >= limits.maxRecords || bytes + s > limits.maxBatchBytes)) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += s;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

/**
 * GH_DESTINATION_CONFIG in docs/errors.md's words, '<source> is invalid (N problems):' and one line
 * per problem with its key, as the registry's validation of the options says them.
 */
export function destinationConfigError(source: string, problems: ConfigProblem[], options: GatehouseErrorOptions = {}): GatehouseError {
  return ERRORS.GH_DESTINATION_CONFIG(
    { source, count: `${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems: formatProblems(problems) },
    { details: problems, ...options },
  );
}

/** scanTemplate of a destination option (`where`, e.g. 's3.keyTemplate'): a malformed one is GH_DESTINATION_CONFIG. */
export function scanDestinationTemplate(template: string, where: string): TemplatePiece[] {
  try {
    return scanTemplate(template, { legacy: true, where });
  } catch (err) {
    if (!isGatehouseError(err, 'GH_TEMPLATE_INVALID')) throw err;
    throw destinationConfigError(`${where.split('.')[0]} destination`, [{ path: where, message: err.message }], { where, hint: err.hint });
  }
}

/**
 * A `${name}` template (core/template.ts syntax; the deprecated `{name}` is still read) compiled
 * once into literal and field parts (core/template.ts renderTemplate renders it). Unknown names
 * fail at construction; `warn` hears about deprecated forms.
 */
export function compileTemplate(template: string, allowed: readonly string[], where: string, warn?: (msg: string) => void): TemplatePart[] {
  const pieces = scanDestinationTemplate(template, where);
  const parts = fieldParts(pieces, allowed);
  if ('unknown' in parts) {
    const list = allowed.map((a) => `\${${a}}`).join(', ');
    throw destinationConfigError(
      `${where.split('.')[0]} destination`,
      [{ path: where, message: `unknown field '\${${parts.unknown}}' in template '${template}'` }],
      {
        where,
        hint: `use only ${list}`,
      },
    );
  }
  const note = legacyNote(template, pieces, where);
  if (note !== undefined) warn?.(note);
  return parts;
}

/** Error text for a status field: first line only, bounded, never a stack. */
export function shortError(err: unknown): string {
  const msg = err instanceof Error ? `${err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}` : String(err);
  const line = msg.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

const DNS_FAIL = /ENOTFOUND|EAI_AGAIN/;

/**
 * What to check when a connection failed on the server's certificate (`ca`: the option that
 * trusts a private CA), on its host name or on a port nothing listens on (`address`: the option
 * naming them); undefined otherwise.
 */
export function networkHint(why: string | undefined, options: { ca: string; address: string }): string | undefined {
  if (why === undefined) return undefined;
  if (certificateNotVerified(why))
    return `the server's certificate does not verify: for a server certified by a private CA set the destination's ${options.ca} to that CA's PEM, else check its certificate (expired, another name)`;
  if (DNS_FAIL.test(why)) return `the host name does not resolve: check the destination's ${options.address} and the gateway's DNS`;
  // A port nothing listens on (a typo in it, the server not running): before, 'check the broker
  // URL and network' or 'check that the NATS server is reachable', as for any outage.
  if (/ECONNREFUSED|CONNECTION_REFUSED/.test(why))
    return `nothing takes connections at that host and port: check the destination's ${options.address} (its port) and that the server runs there`;
  return undefined;
}
