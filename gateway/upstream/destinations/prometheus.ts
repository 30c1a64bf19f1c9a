// Prometheus remote write destination: each batch is one remote write 1.0 request (a snappy'd
// protobuf WriteRequest, prometheus-wire.ts) of the samples its records make (prometheus-series.ts),
// to a Prometheus started with --web.enable-remote-write-receiver, Mimir, VictoriaMetrics or Grafana
// Cloud, as Telegraf's, Fluent Bit's, Vector's and Grafana Alloy's remote write outputs send. The
// HTTP plumbing (TLS, proxy, timeouts, auth and header files) is the webhook's (http-exchange.ts).
//
// What Prometheus's answers mean (2.42, measured against the real server, test/integration):
//   2xx: written. A sample sent again as it was (same series, time and value) is taken silently only
//   while it is its series' newest; an older one is "out of order" (below) unless Prometheus has an
//   out_of_order_time_window: a resend never adds a sample twice, but may be dead-lettered.
//   400 "out of order sample" / "out of bounds" / "duplicate sample for timestamp", and 500 "too old
//   sample" (out_of_order_time_window set): a sample of the request is refused and the whole request
//   is rolled back (nothing of it written, measured): the batch is split until the record is alone,
//   then dead-lettered with Prometheus's words and what to do; the rest goes.
//   404: no receiver at that url (a Prometheus without the flag answers so): held, a setup fault.
//   401/403: credentials: held. 429 and the other 5xx: retried with backoff (Retry-After honoured).
import { hostname } from 'node:os';
import type { Counter } from 'prom-client';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS } from '../../../core/errors.js';
import { counter } from '../../../core/metrics.js';
import { VERSION } from '../../../core/version.js';
import type { StoredRecord } from '../../store/types.js';
import { routeFor, type ProxySettings, type Route } from '../proxy.js';
import { recordId, type Destination, type DestinationLimits, type RecordResult } from '../types.js';
import { destinationMetrics, httpStatusReason, sendOutcome, type DestinationMetrics } from './common.js';
import { type HttpExchange, httpExchangeFor, retryAfterText, safeTarget, throwIfEndpointAnswer, type HttpReply } from './http-exchange.js';
import type { PrometheusOptions } from './prometheus-options.js';
import { writeBatch } from './prometheus-series.js';
import { encodeWriteRequest, loadWirePackages } from './prometheus-wire.js';
import { bodyStart, configuredHeaders } from './webhook.js';

/** Largest response body read: Prometheus's refusals are one line. */
const MAX_RESPONSE_BYTES = 16 * 1024;

/** Prometheus's words for a sample it refuses (tsdb's storage errors), in a 400, or a 500 for "too old sample" (2.42). */
const SAMPLE_REFUSAL = /out of order sample|out of bounds|duplicate sample for timestamp|too old sample/;

/** What to do about each refusal, after Prometheus's words. */
function refusalHint(body: string): string {
  if (/out of bounds|too old sample/.test(body))
    return 'the sample is older than Prometheus takes: by default no more than about an hour behind the newest sample it holds of any series (its head block; 59 min taken, 61 refused on 2.42), as after an outage of hours, or from a device clock behind (with time: a clock years behind, or seconds read as ms: check timeUnit), or every record once Prometheus holds a sample from a clock ahead (maxFutureMs 0); for an outage set storage.tsdb.out_of_order_time_window in prometheus.yml (2.39+) to a window as long as the outages to ride out, or send to VictoriaMetrics, which takes old samples; then `gatehouse streams redrive` the dead letters';
  if (/out of order sample/.test(body))
    return "the series already has a later sample: Prometheus takes a series' samples in time order only, unless storage.tsdb.out_of_order_time_window is set in prometheus.yml (2.39+), then `gatehouse streams redrive` the dead letters; a record sent again after a restart (at least once) whose sample Prometheus already holds is refused so too: that one is in Prometheus";
  return 'the series already has another value at that millisecond: two senders are one series (add labels or topicLabels that tell them apart) or a time key repeats';
}

export interface PrometheusDeps extends RuntimeDeps {
  gatewayId?: string | undefined;
  network?: ProxySettings | undefined;
}

export class PrometheusDestination implements Destination {
  readonly kind = 'prometheus';
  readonly target: string;
  readonly limits: DestinationLimits;
  readonly route: Route;
  private readonly url: URL;
  private readonly exchange: HttpExchange;
  private readonly headers: Record<string, string>;
  private readonly gatewayId: string;
  private readonly metrics: DestinationMetrics;
  private readonly samplesWritten: Counter<'kind' | 'target'>;
  /**
   * Records sent in a request that got no answer (a timeout, a reset): Prometheus may have written
   * them. Sent again, their older samples are refused as out of order (taken again silently only
   * while each is its series' newest): their dead-letter reason says they are most likely in.
   */
  private readonly unanswered = new Set<string>();
  private readonly logger: PrometheusDeps['logger'];
  /** When the last warning of two topics in one series was logged (once an hour at most). */
  private mergedWarnedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly o: PrometheusOptions,
    deps: PrometheusDeps,
  ) {
    this.url = new URL(o.url);
    this.target = safeTarget(this.url);
    this.route = routeFor(this.url, o.proxy, deps.network);
    this.metrics = destinationMetrics(deps.registry);
    this.samplesWritten = counter(deps.registry, 'gatehouse_destination_samples_total', 'Samples written by the prometheus destination (taken by the server)', [
      'kind',
      'target',
    ]);
    this.limits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
    this.gatewayId = deps.gatewayId ?? hostname();
    this.logger = deps.logger;
    this.exchange = httpExchangeFor(
      o,
      {
        url: this.url,
        target: this.target,
        route: this.route,
        kind: 'prometheus',
        subject: 'prometheus destination',
        maxResponseBytes: MAX_RESPONSE_BYTES,
        retryNote: 'the batch is retried (a sample resent as it was is taken again silently)',
      },
      deps.logger,
    );
    this.headers = {
      ...configuredHeaders(o, 'prometheus destination'),
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'snappy',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      'User-Agent': `Gatehouse/${VERSION}`,
    };
  }

  async start(): Promise<void> {
    loadWirePackages();
    await this.exchange.start();
  }

  async stop(): Promise<void> {
    this.exchange.stop();
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const lbl = { kind: 'prometheus', target: this.target };
    const batch = writeBatch(records, this.o, this.gatewayId);
    if (batch.merged && Date.now() - this.mergedWarnedAt > 3_600_000) {
      this.mergedWarnedAt = Date.now();
      this.logger.warn(
        { destination: this.target, series: batch.merged.series, topics: batch.merged.topics },
        `prometheus destination: records of ${batch.merged.topics.join(' and ')} are written into one series, ${batch.merged.series}: their readings interleave (and those at the same millisecond are refused as duplicates); keep topicLabel, or give topicLabels or labels that tell the senders apart (logged once an hour)`,
      );
    }
    const out: RecordResult[] = new Array(records.length);
    for (const [i, { code, reason }] of batch.refused) {
      out[i] = { ok: false, retryable: false, code, error: `GH_EXPORT_PERMANENT: record not written as Prometheus samples: ${reason}` };
      this.metrics.recordFailures.inc({ ...lbl, code });
    }
    if (batch.refused.size === records.length) return out;

    const body = encodeWriteRequest(batch.series);
    let reply: HttpReply;
    try {
      reply = await this.exchange.request('POST', this.headers, body, signal);
    } catch (err) {
      const reason = this.exchange.failureReason(err, signal);
      this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason });
      // Sent without an answer: Prometheus may hold these samples (a refused connection sent nothing).
      if (!/ECONNREFUSED/.test(String((err as Error).message))) this.answerLost(records);
      throw err;
    }
    let verdict: RecordResult;
    try {
      verdict = this.judge(reply);
    } catch (err) {
      this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason: httpStatusReason(reply.status) });
      throw err;
    }
    if (!verdict.ok && verdict.code === 'SAMPLE_REFUSED' && /out of order|duplicate/.test(reply.body) && records.every((r) => this.unanswered.has(recordId(r))))
      verdict = {
        ...verdict,
        error: `${verdict.error}; this record was sent before in a request whose answer was lost: Prometheus most likely holds its samples already`,
      };
    if (verdict.ok) for (const r of records) this.unanswered.delete(recordId(r));
    // One object for every sent record: the loop splits a batch refused as a whole by that (outcomes.ts).
    for (let i = 0; i < records.length; i++) if (!batch.refused.has(i)) out[i] = verdict;
    if (verdict.ok) {
      this.samplesWritten.inc(lbl, batch.samples);
      this.metrics.calls.inc({ ...lbl, outcome: sendOutcome(out).outcome });
    } else {
      this.metrics.calls.inc({ ...lbl, outcome: verdict.retryable ? 'retryable' : 'permanent', reason: httpStatusReason(reply.status) });
      this.metrics.recordFailures.inc({ ...lbl, code: verdict.code ?? 'HTTP_ERROR' }, records.length - batch.refused.size);
    }
    return out;
  }

  /** Remember the records of a request whose answer was lost (bounded: a few batches' worth). */
  private answerLost(records: readonly StoredRecord[]): void {
    if (this.unanswered.size + records.length > 4 * this.o.maxRecords) this.unanswered.clear();
    for (const r of records) this.unanswered.add(recordId(r));
  }

  /** What an answer means for the batch; thrown: the whole send failed for a reason no record is to blame for. */
  private judge(reply: HttpReply): RecordResult {
    const { status, retryAfterMs } = reply;
    if (status >= 200 && status < 300) return { ok: true };
    this.exchange.throwIfProxyRefused(status);
    const detail = bodyStart(reply.body);
    const error = `HTTP ${status} from POST ${this.target}${detail ? `: ${detail}` : ''}`;
    if ((status === 400 || status === 500) && SAMPLE_REFUSAL.test(reply.body))
      return { ok: false, retryable: false, code: 'SAMPLE_REFUSED', error: `GH_EXPORT_PERMANENT: ${error} (${refusalHint(reply.body)})` };
    if (status === 429) return { ok: false, retryable: true, error: `${error}${retryAfterText(retryAfterMs)}`, code: 'THROTTLED', retryAfterMs };
    if (status === 404 && /remote.write.receiver/i.test(reply.body))
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: error },
        {
          where: this.target,
          details: { setup: true },
          hint: 'Prometheus takes remote writes only when started with --web.enable-remote-write-receiver (2.33+; before, --enable-feature=remote-write-receiver): add it to its command line (Debian: ARGS in /etc/default/prometheus) and restart it; records wait in the local stream',
        },
      );
    throwIfEndpointAnswer(reply, error, this.target, {
      url: "no remote write receiver at that url: check the destination's url (Prometheus and VictoriaMetrics: /api/v1/write, Mimir: /api/v1/push), and that a Prometheus runs with --web.enable-remote-write-receiver",
      credentials: "the endpoint refused the credentials: check the destination's auth and headers (the token, user, tenant, and any proxy in between)",
    });
    if (status === 408 || status >= 500) return { ok: false, retryable: true, error };
    if (status === 413)
      return {
        ok: false,
        retryable: false,
        code: 'TOO_LARGE',
        error: `GH_EXPORT_PERMANENT: ${error} (the request body is over the receiver's limit: the batch is split; set the exporter's batch.maxRecords lower)`,
      };
    // Other 400s (a label the receiver refuses, too many labels, a malformed request): the data, not better on a retry.
    return { ok: false, retryable: false, error: `GH_EXPORT_PERMANENT: ${error}` };
  }
}

/** Options arrive validated (registry.ts). */
export function createPrometheusDestination(options: PrometheusOptions, deps: PrometheusDeps): PrometheusDestination {
  return new PrometheusDestination(options, deps);
}
