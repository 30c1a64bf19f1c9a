// The one batch-send loop of the AWS destinations (kinesis, firehose, s3): records too large for
// one call are rejected alone (permanent, TOO_LARGE, GH_EXPORT_PERMANENT), the rest are cut into
// calls within the service limits, each call's failure is classified (aws-common.ts: throttling,
// 5xx, network, and faults of the setup (credentials, permissions, clock, region, endpoint) ->
// thrown GH_EXPORT_RETRYABLE so the loop backs off and resends; validation -> permanent for the
// call's records), per-entry service errors map to per-record
// results, and every outcome is counted. A destination only says how to size, send and read one call.
import type { Logger } from 'pino';
import { ERRORS } from '../../../core/errors.js';
import type { DestinationLimits, RecordResult } from '../types.js';
import { awsCallReason, classifyAwsError } from './aws-common.js';
import { RESTART_TO_RENEW_HINT, expiredCertificateError, heldTlsFiles } from '../cert-expired.js';
import { OK, chunkIndexes, failAll, networkHint, type DestinationMetrics } from './common.js';
import { ProxyFault, proxyError, proxyFaultOf } from '../proxy-agent.js';
import { rateLimitedLog, type RateLog } from '../../../core/rate-log.js';

const SETUP_HINT =
  "the service refused this gateway's setup, not the records: check the destination's credentials (accessKeyId/secretAccessKey or the AWS provider chain) and their permissions, its region and endpoint, and the gateway clock; records wait in the local stream and go out once it is fixed";

/**
 * The SDK found no credentials on this machine (its provider chain: the destination's keys, the
 * environment, the shared files, an instance role): nothing was sent, so "the service refused"
 * would send the user looking at the service (the round-39 trial).
 */
const NO_CREDENTIALS_HINT =
  "no AWS credentials were found on this machine, nothing was sent: give the destination accessKeyId and secretAccessKey, or give the gateway's user AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (under systemd: Environment= or EnvironmentFile= in a drop-in of the unit), a profile (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE it can read) or an instance role; records wait in the local stream and go out once it has them";

/** What to check when the service says the stream or bucket does not exist. */
function missingHint(kind: string): string {
  const what = kind === 's3' ? 'the bucket' : kind === 'firehose' ? 'the delivery stream' : 'the stream';
  const option = kind === 's3' ? 'bucket' : kind === 'firehose' ? 'deliveryStreamName' : 'streamName';
  return `${what} does not exist where the gateway looks: check the destination's ${option} and region (and the account of its credentials), or create it; records wait in the local stream and go out once it exists`;
}

/** Slowest uplink a call's deadline allows for (64 kbit/s): 8 MiB get ~17 min on top of requestTimeoutMs. */
const UPLOAD_FLOOR_BYTES_PER_S = 8 * 1024;

/** What the service said about one entry of a call. */
export type AwsEntryOutcome =
  | { ok: true }
  | {
      ok: false;
      errorCode: string;
      errorMessage?: string | undefined;
      /** Another entry of the call that goes where this one goes (Kinesis: the same partition key, so
       * the same shard) was accepted: the failure may be this entry's own. Absent: not known. */
      peerAccepted?: boolean;
    }
  /** The response had no result for the entry (should not happen; never counted as success). */
  | undefined;

export interface AwsBatchCall {
  /** 'kinesis' | 'firehose' | 's3': the metrics' kind label. */
  kind: string;
  /** Where it sends (status, metrics label, error `where`). */
  target: string;
  /** Service and operation for messages, e.g. "Kinesis PutRecords". */
  operation: string;
  /** The proxy the calls go through (scheme://host:port), if any: its faults are GH_UPSTREAM_PROXY. */
  proxy?: string | undefined;
  /** The private CA (caFile) and the bytes the client holds (read when it was made): a CA past its date is named (cert-expired.ts). */
  caFile?: string | undefined;
  ca?: Buffer | undefined;
  /** Limits of ONE call (the service's), which chunking respects. */
  limits: DestinationLimits;
  metrics: DestinationMetrics;
  log: Logger;
  /**
   * The destination's whole-call refusals, at most a line a minute per error code with the count
   * (`suppressed`): every call of a stream the service refuses (a validation the records all fail)
   * made a line, one per batch for as long as it lasted; the metrics and each record's dead letter
   * carry every one. Made once per destination (awsRejectLog).
   */
  rejectLog: RateLog;
  /** Bytes item i costs in a call (payload plus what the call adds: key, separator...). */
  size(i: number): number;
  /** Why item i (of `bytes`) is too large, for its dead-letter error. */
  tooLarge(i: number, bytes: number): string;
  /** One call with the items at `idx`; resolves one outcome per item in order, or throws the SDK error. */
  put(idx: readonly number[], signal: AbortSignal): Promise<readonly AwsEntryOutcome[]>;
  /** Per-entry service error -> result (each service names its throttling differently); `peerAccepted` as the outcome's. */
  entryFailure(code: string, message: string | undefined, peerAccepted?: boolean): RecordResult;
  /** Longest one call may take, reply included (the connection option requestTimeoutMs). */
  timeoutMs: number;
  /** Label of a call in messages (default: the operation). */
  describeCall?(idx: readonly number[]): string;
}

/** A permanent verdict carrying the catalogue code in its text (it ends up in the dead-letter attrs). */
export function permanentResult(code: string, reason: string, where: string): RecordResult {
  const err = ERRORS.GH_EXPORT_PERMANENT({ reason }, { where });
  return { ok: false, retryable: false, error: `${err.code}: ${err.message}`, code };
}

/** Send `count` items as calls within limits; returns one result per item. */
/** The rate log of a destination's whole-call refusals (AwsBatchCall.rejectLog). */
export function awsRejectLog(log: Logger, monotonic?: () => number): RateLog {
  return rateLimitedLog(log, 'warn', 60_000, monotonic);
}

export async function sendAwsBatch(call: AwsBatchCall, count: number, signal: AbortSignal): Promise<RecordResult[]> {
  const { kind, target, metrics } = call;
  const results: RecordResult[] = new Array(count);
  const items: number[] = new Array(count);
  const sizes: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    items[i] = i;
    sizes[i] = call.size(i);
  }
  const oversized: number[] = [];
  const chunks = chunkIndexes(items, call.limits, (_, i) => sizes[i]!, oversized);
  for (const i of oversized) {
    metrics.recordFailures.inc({ kind, target, code: 'TOO_LARGE' });
    results[i] = permanentResult('TOO_LARGE', call.tooLarge(i, sizes[i]!), target);
  }
  for (const idx of chunks) await sendCall(call, idx, results, signal);
  return results;
}

async function sendCall(call: AwsBatchCall, idx: readonly number[], results: RecordResult[], signal: AbortSignal): Promise<void> {
  const { kind, target, metrics } = call;
  let outcomes: readonly AwsEntryOutcome[];
  // The SDK's requestTimeout only bounds silence on the socket: a reply trickled a byte at a time
  // would hold the call (and the exporter) for as long as it trickles. This bounds the whole call:
  // requestTimeoutMs plus the upload at UPLOAD_FLOOR_BYTES_PER_S, so a big call on a slow uplink
  // (cellular) still goes through instead of timing out on every retry.
  let bytes = 0;
  for (const i of idx) bytes += call.size(i);
  const limitMs = call.timeoutMs + Math.ceil((bytes * 1000) / UPLOAD_FLOOR_BYTES_PER_S);
  const deadline = AbortSignal.timeout(limitMs);
  try {
    outcomes = await call.put(idx, AbortSignal.any([signal, deadline]));
  } catch (err) {
    const label = call.describeCall?.(idx) ?? call.operation;
    if (deadline.aborted && !signal.aborted) {
      metrics.calls.inc({ kind, target, outcome: 'retryable', reason: 'timeout' });
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `${label} failed: no complete response within ${limitMs} ms` },
        { where: target, cause: err, details: { code: 'TIMEOUT' }, hint: 'the service or the network to it is slow; the call is retried with backoff' },
      );
    }
    // The site's proxy refused the call, is down or hung up: held (never dead-lettered), with what
    // to fix. A 407 is a proxy's answer whatever carried it (a plain http endpoint's request goes
    // to the proxy as is; its refusal comes back as the response).
    const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
    const fault =
      call.proxy === undefined
        ? undefined
        : (proxyFaultOf(err, call.proxy, target) ??
          (status === 407 ? new ProxyFault('refused', call.proxy, target, 'HTTP 407 Proxy Authentication Required', 407) : undefined));
    if (fault) {
      const reason = signal.aborted ? 'other' : fault.status === 407 || fault.status === 401 || fault.status === 403 ? 'auth' : 'network';
      metrics.calls.inc({ kind, target, outcome: 'retryable', reason });
      throw proxyError(fault, target, err);
    }
    const c = classifyAwsError(err);
    // No answer (no HTTP status) because the server's certificate did not verify against a CA bundle past its date: said so.
    const expired =
      status === undefined
        ? expiredCertificateError(
            `${label} failed`,
            heldTlsFiles({ caFile: call.caFile }, { ca: call.ca }),
            c.message,
            target,
            Date.now(),
            RESTART_TO_RENEW_HINT,
          )
        : undefined;
    if (expired) {
      metrics.calls.inc({ kind, target, outcome: 'retryable', reason: signal.aborted ? 'other' : 'auth' });
      throw expired;
    }
    if (c.retryable) {
      const net = networkHint(c.message, { ca: 'caFile', address: 'endpoint (or region)' });
      // Through a proxy, a 401 may be the proxy's (tinyproxy answers a wrong proxy password so).
      const hint = c.setup
        ? c.code === 'CredentialsProviderError'
          ? NO_CREDENTIALS_HINT
          : call.proxy
            ? `${SETUP_HINT}; the calls go through the proxy ${call.proxy}: check its user and password too`
            : SETUP_HINT
        : c.missing
          ? missingHint(kind)
          : net && `${net}; records wait in the local stream`;
      metrics.calls.inc({ kind, target, outcome: 'retryable', reason: signal.aborted ? 'other' : awsCallReason(err, c) });
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: `${label} failed: ${c.message}` },
        {
          where: target,
          cause: err,
          // A missing stream or bucket is the setup's too (a name mistyped, not created yet).
          details: { code: c.code, ...(c.setup || c.missing ? { setup: true } : {}) },
          ...(hint ? { hint } : {}),
        },
      );
    }
    metrics.calls.inc({ kind, target, outcome: 'permanent', reason: awsCallReason(err, c) });
    metrics.recordFailures.inc({ kind, target, code: c.code }, idx.length);
    call.rejectLog(c.code, { code: c.code, err: c.message, call: label }, `${call.operation}: the service rejected a whole call`);
    failAll(results, idx, permanentResult(c.code, `${label} rejected: ${c.message}`, target));
    return;
  }
  let failed = 0;
  for (let j = 0; j < idx.length; j++) {
    const r = outcomes[j];
    if (r === undefined) {
      failed++;
      results[idx[j]!] = { ok: false, retryable: true, error: `${call.operation} response had no result for this record`, code: 'NO_RESULT' };
    } else if (r.ok) {
      results[idx[j]!] = OK;
    } else {
      failed++;
      results[idx[j]!] = call.entryFailure(r.errorCode, r.errorMessage, r.peerAccepted);
      metrics.recordFailures.inc({ kind, target, code: r.errorCode });
    }
  }
  metrics.calls.inc({ kind, target, outcome: failed === 0 ? 'ok' : 'partial' });
}
