// Small helpers shared by the destinations (file, http, kinesis, firehose, s3, mqtt, nats):
// per-destination metrics, limit checks, and compiled string templates.
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../../core/metrics.js';
import { GatehouseError } from '../../../core/errors.js';
import { legacyNote, scanTemplate } from '../../../core/template.js';
import type { StoredRecord } from '../../store/types.js';
import type { DestinationLimits, RecordResult } from '../types.js';

/** Metrics every cloud destination reports; created once per registry and shared by label. */
export interface DestinationMetrics {
  /** Remote calls by outcome: ok | partial | retryable | permanent. */
  calls: Counter<'kind' | 'target' | 'outcome'>;
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
      'Calls made by cloud destinations to their remote service, by outcome (ok, partial, retryable, permanent)',
      ['kind', 'target', 'outcome'],
    ),
    recordFailures: counter(
      registry,
      'gatehouse_destination_record_failures_total',
      'Records rejected by a destination (remote per-record errors and local limit checks), by code',
      ['kind', 'target', 'code'],
    ),
    skipped: counter(registry, 'gatehouse_destination_skipped_total', 'Records acknowledged without sending (loop prevention), by reason', [
      'kind',
      'target',
      'reason',
    ]),
  };
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
 * A `${name}` template (core/template.ts syntax; the deprecated `{name}` is still read) compiled
 * once into literal and field parts, so rendering per record is a few string concatenations (no
 * regex per message). Unknown names fail at construction; `warn` hears about deprecated forms.
 */
export type TemplatePart = string | { field: string };

export function compileTemplate(template: string, allowed: readonly string[], where: string, warn?: (msg: string) => void): TemplatePart[] {
  const pieces = scanTemplate(template, { legacy: true, code: 'GH_DESTINATION_CONFIG', where });
  const parts: TemplatePart[] = [];
  for (const p of pieces) {
    if (typeof p === 'string') {
      parts.push(p);
      continue;
    }
    if (!allowed.includes(p.body)) {
      const list = allowed.map((a) => `\${${a}}`).join(', ');
      throw new GatehouseError('GH_DESTINATION_CONFIG', `unknown field '\${${p.body}}' in template '${template}'`, { where, hint: `use only ${list}` });
    }
    parts.push({ field: p.body });
  }
  const note = legacyNote(template, pieces, where);
  if (note !== undefined) warn?.(note);
  return parts;
}

export function renderTemplate(parts: readonly TemplatePart[], value: (field: string) => string): string {
  let s = '';
  for (const p of parts) s += typeof p === 'string' ? p : value(p.field);
  return s;
}

/** Error text for a status field: first line only, bounded, never a stack. */
export function shortError(err: unknown): string {
  const msg = err instanceof Error ? `${err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}` : String(err);
  const line = msg.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** A URL without its user info (whatever the password holds), for the target shown in status and logs. */
export function withoutCredentials(url: string): string {
  // host:port without a scheme (NATS takes them): everything up to the last '@' is user info.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const at = url.lastIndexOf('@');
    return at < 0 ? url : url.slice(at + 1);
  }
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    // Not a URL the parser reads: cut up to the last '@' before the path.
    return url.replace(/\/\/[^/]*@/, '//');
  }
}

/**
 * Why mqtt.js could not connect to the URL as meant, or undefined. It parses URLs leniently: a
 * port that is not a number became 1883 (another broker, maybe the gateway's own), one out of
 * range failed at start with a bare Node error. (As the MQTT source's check.)
 */
export function brokerUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a valid URL: the port must be a number from 1 to 65535, and @ : / in a user name or password percent-encoded (%40 %3A %2F)';
  }
  if (u.port === '0') return 'port 0 cannot be connected to: give the port of the remote broker (1883, 8883 for TLS)';
  return undefined;
}
