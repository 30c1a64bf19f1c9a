// Webhook destination: batches POSTed (or PUT) to the user's own HTTP endpoint, as AWS IoT's HTTP
// action, Fluent Bit's and Telegraf's http outputs and Node-RED's http request do: a webhook, a
// REST API, InfluxDB or VictoriaMetrics (line protocol). The body is NDJSON, a JSON array or line
// protocol (webhook-body.ts); any 2xx delivers the batch (its body is not read for meaning).
//
// At least once: a batch's id (idempotencyHeader, default Idempotency-Key) is made from what it
// holds (batch-id.ts): a retry, and the same records sent again after a restart past the exporter's
// checkpoint, carry the same id, so a receiver that keeps the ids it took can drop a batch it
// already has; without that, a batch whose 2xx was lost (timeout, reset, power cut) arrives twice.
import { readFileSync } from 'node:fs';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { destinationConfigError, destinationMetrics, httpStatusReason, sendOutcome, type DestinationMetrics } from './common.js';
import { routeFor, type ProxySettings, type Route } from '../proxy.js';
import { type HttpExchange, httpExchangeFor, retryAfterText, safeTarget, throwIfEndpointAnswer, type HttpReply } from './http-exchange.js';
import type { WebhookOptions } from './webhook-options.js';
import { lazyInstallationId } from '../installation-id.js';
import { batchIds } from './batch-id.js';

export interface WebhookDeps extends RuntimeDeps {
  network?: ProxySettings | undefined;
  /** The data folder and installation id (in every batch id: two gateways' batches never share one). */
  dataDir?: string | undefined;
  installationId?: (() => Promise<string>) | undefined;
}
import { CONTENT_TYPES, WebhookEncoder } from './webhook-body.js';

const gzipAsync = promisify(gzip);
/** Largest response body read: only its start is ever shown (an error names the first 200 bytes). */
const MAX_RESPONSE_BYTES = 16 * 1024;
/** How much of a refusal's body an error shows. */
const BODY_SHOWN = 200;

/** The first line of a secret file, or GH_DESTINATION_CONFIG naming its key (never its content). */
export function readSecretFile(path: string, where: string, subject = 'webhook destination'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw destinationConfigError(subject, [{ path: where, message: `${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }], {
      where,
      hint: "give a file the gateway's user can read, holding the secret on its first line",
    });
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (line === '') throw destinationConfigError(subject, [{ path: where, message: `${path} is empty (the secret is its first line)` }], { where });
  return line;
}

/**
 * The headers a destination block sets: `headers` as written, `headerFiles` read (their values never
 * logged) and `auth` as an Authorization header (the webhook and prometheus destinations).
 */
export function configuredHeaders(o: Pick<WebhookOptions, 'headers' | 'headerFiles' | 'auth'>, subject: string): Record<string, string> {
  const headers: Record<string, string> = { ...o.headers };
  for (const [name, file] of Object.entries(o.headerFiles)) headers[name] = readSecretFile(file, `destination.headerFiles.${name}`, subject);
  const { auth } = o;
  if (auth?.type === 'bearer') {
    headers.Authorization = `Bearer ${auth.token ?? readSecretFile(auth.tokenFile!, 'destination.auth.tokenFile', subject)}`;
  } else if (auth?.type === 'basic') {
    const password = auth.password ?? readSecretFile(auth.passwordFile!, 'destination.auth.passwordFile', subject);
    headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${password}`).toString('base64')}`;
  }
  return headers;
}

/** The start of a refusal's body, on one line, for an error message. */
export function bodyStart(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_SHOWN ? `${flat.slice(0, BODY_SHOWN)}...` : flat;
}

export class WebhookDestination implements Destination {
  readonly kind = 'webhook';
  readonly target: string;
  readonly limits: DestinationLimits;
  readonly route: Route;
  private readonly url: URL;
  private readonly exchange: HttpExchange;
  private readonly headers: Record<string, string>;
  private readonly encoder: WebhookEncoder;
  private readonly batchId: (records: readonly StoredRecord[]) => Promise<string>;
  private readonly metrics: DestinationMetrics;

  constructor(
    private readonly options: WebhookOptions,
    deps: WebhookDeps,
  ) {
    this.batchId = batchIds(deps.installationId ?? (deps.dataDir !== undefined ? lazyInstallationId(deps.dataDir) : undefined));
    this.url = new URL(options.url);
    this.target = safeTarget(this.url);
    this.route = routeFor(this.url, options.proxy, deps.network);
    this.metrics = destinationMetrics(deps.registry);
    this.limits = { maxRecords: options.maxRecords, maxRecordBytes: options.maxRecordBytes, maxBatchBytes: options.maxBatchBytes };
    this.encoder = new WebhookEncoder(options);
    // A private CA, a client certificate and its key: checked as the handshake will use them.
    this.exchange = httpExchangeFor(
      options,
      {
        url: this.url,
        target: this.target,
        route: this.route,
        kind: 'webhook',
        subject: 'webhook destination',
        maxResponseBytes: MAX_RESPONSE_BYTES,
        retryNote: `the batch is retried with the same ${options.idempotencyHeader}`,
      },
      deps.logger,
    );
    this.headers = configuredHeaders(options, 'webhook destination');
    this.headers['Content-Type'] = CONTENT_TYPES[options.format];
    if (options.compression === 'gzip') this.headers['Content-Encoding'] = 'gzip';
  }

  async start(): Promise<void> {
    await this.exchange.start();
  }

  async stop(): Promise<void> {
    this.exchange.stop();
  }

  async send(records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    const lbl = { kind: 'webhook', target: this.target };
    const { body, refused } = this.encoder.encode(records);
    const out: RecordResult[] = new Array(records.length);
    for (const [i, why] of refused) {
      out[i] = { ok: false, retryable: false, code: 'UNENCODABLE', error: `GH_EXPORT_PERMANENT: record not written as ${this.options.format}: ${why}` };
    }
    if (refused.size > 0) this.metrics.recordFailures.inc({ ...lbl, code: 'UNENCODABLE' }, refused.size);
    if (refused.size === records.length) return out;

    const batchId = await this.batchId(records);
    const buf = this.options.compression === 'gzip' ? await gzipAsync(body) : body;
    let reply: HttpReply;
    try {
      reply = await this.exchange.request(this.options.method, { ...this.headers, [this.options.idempotencyHeader]: batchId }, buf, signal);
    } catch (err) {
      this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason: this.exchange.failureReason(err, signal) });
      throw err;
    }
    let verdict: RecordResult;
    try {
      verdict = this.judge(reply);
    } catch (err) {
      this.metrics.calls.inc({ ...lbl, outcome: 'retryable', reason: httpStatusReason(reply.status) });
      throw err;
    }
    // One object for every sent record: the loop reads a whole-batch 413 by that (outcomes.ts).
    for (let i = 0; i < records.length; i++) if (!refused.has(i)) out[i] = verdict;
    if (verdict.ok) {
      this.metrics.calls.inc({ ...lbl, outcome: sendOutcome(out).outcome });
    } else {
      this.metrics.calls.inc({ ...lbl, outcome: verdict.retryable ? 'retryable' : 'permanent', reason: httpStatusReason(reply.status) });
      this.metrics.recordFailures.inc({ ...lbl, code: verdict.code ?? 'HTTP_ERROR' }, records.length - refused.size);
    }
    return out;
  }

  /** What an answer means for the batch; thrown: the whole send failed for a reason no record is to blame for. */
  private judge(reply: HttpReply): RecordResult {
    const { status, retryAfterMs } = reply;
    if (status >= 200 && status < 300) return { ok: true };
    this.exchange.throwIfProxyRefused(status);
    const detail = bodyStart(reply.body);
    const error = `HTTP ${status} from ${this.options.method} ${this.target}${detail ? `: ${detail}` : ''}`;
    if (status === 429) return { ok: false, retryable: true, error: `${error}${retryAfterText(retryAfterMs)}`, code: 'THROTTLED', retryAfterMs };
    // Down (502/503/504), setup (401/403/404/405/407) and redirects: the endpoint, not the records.
    throwIfEndpointAnswer(reply, error, this.target, {
      url: `the endpoint refused the url or the method, not the records: check the destination's url (its path) and method (${this.options.method})`,
      credentials:
        "the endpoint refused the credentials, not the records: check the destination's auth and headers (the token, user, API key, and any proxy in between)",
    });
    // InfluxDB 1.x's 400 for a url without ?db= is about the url, not the records: as a 4xx of the
    // data it dead-lettered every record of the stream (20 of 20 in a trial), into a dead-letter
    // stream that drops its oldest when full.
    if (status === 400 && this.options.format === 'influx' && INFLUX_URL_REFUSAL.test(reply.body))
      throw ERRORS.GH_EXPORT_RETRYABLE(
        { reason: error },
        {
          where: this.target,
          details: { setup: true },
          hint: "InfluxDB 1.x takes a write only for a database named in the url: add ?db=<database> to the destination's url; records wait in the local stream",
        },
      );
    // A broken endpoint and a record it chokes on look the same: resent, split, and counted against
    // a record only with evidence that it is at fault (outcomes.ts).
    if (status === 408 || status >= 500) return { ok: false, retryable: true, error };
    // The body is over the receiver's limit: the loop splits the batch and keeps later ones under half its bytes.
    if (status === 413)
      return {
        ok: false,
        retryable: false,
        code: 'TOO_LARGE',
        error: `GH_EXPORT_PERMANENT: ${error} (the request body is over the receiver's limit: the batch is split; set the exporter's batch.maxBytes, or the destination's maxBatchBytes, under that limit)`,
      };
    // 400, 422 and the other 4xx: the receiver refuses the data (or its format): not better on a retry.
    return { ok: false, retryable: false, error: `GH_EXPORT_PERMANENT: ${error}` };
  }
}

/** InfluxDB 1.x's answer (400) to a write whose url names no database. */
const INFLUX_URL_REFUSAL = /"error"\s*:\s*"database is required"/;

/** Options arrive validated (registry.ts). */
export function createWebhookDestination(options: WebhookOptions, deps: WebhookDeps): WebhookDestination {
  return new WebhookDestination(options, deps);
}
