// A `type: http` source: POST /topics/<topic> with the payload as the body (AWS IoT's HTTPS
// publish), or an NDJSON body of several messages on that topic; answered 200 only once every
// message of the request is committed (the answer is the acknowledgement, as a PUBACK is).
//
// A request goes: route and topic checked (404, 405, 400) -> a place among maxInFlight (503) ->
// credentials (401, 429) and the topic allowed (403) -> the body read under maxBodyBytes (413:
// reading stops) -> every NDJSON line checked (400 naming the line: nothing submitted) -> each
// message submitted in order -> all settled -> 200, or 503/500 when one was refused (the client
// sends the request again: at least once; those of its messages that were committed come twice).
// A client that leaves before its body is read has nothing submitted; one that leaves after its
// submits has its messages committed all the same (they were taken whole), counted as client-gone:
// it sends them again, at least once.
//
// stop(): the listener closes, idle connections are closed, requests still being read are cut
// (nothing of them was submitted), and it resolves once every submitted request's commits settled
// and its answer was written (the contract's drain), or after stopDrainMs with those left
// abandoned (closed unanswered: sent again), then closes what is left.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERRORS, GatehouseError, errorMessage } from '../../../../core/errors.js';
import type { Message, MessageProperties } from '../../../../core/message.js';
import { clocksOf } from '../../../../core/clock.js';
import type { CertExpiryEntry } from '../../../../core/cert-expiry.js';
import { PRIVILEGED_PORT_HINT } from '../../../../core/privileged-port.js';
import { urlHost } from '../../../../core/bind-host.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { httpSourceTls, type TlsReloadOutcome } from '../../../broker/tls-reload.js';
import { peerAddress } from '../../../broker/peer-address.js';
import { createHardenedServer, listenOn, type HardenedServer } from '../../../http/server.js';
import { type Intake, PASSING_REFUSALS, type Source, type SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { topicAllowed, type HttpAuth } from './auth.js';
import type { HttpSourceOptions } from './options.js';
import { errorBody, httpSourceMetrics, sendJson, type AnswerOptions, type HttpSourceMetrics, type Outcome } from './replies.js';
import { isNdjson, ndjsonLines, parseTarget, type Refusal, type Target } from './request.js';
import { bodyEncoding, readBody } from './body.js';

/** The broker's default maxTopicLength, when the gateway does not pass its own. */
const DEFAULT_MAX_TOPIC_LENGTH = 1024;
const LOG_EVERY_MS = 60_000;

export class HttpSource implements Source {
  readonly kind = 'http';
  readonly name: string;
  private state = 'stopped';
  private intake: Intake | undefined;
  private server: HardenedServer | undefined;
  private port: number | undefined;
  private stops = 0;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private inFlight = 0;
  /** Requests not yet past their body (cut at stop: nothing of them submitted). */
  private readonly reading = new Set<IncomingMessage>();
  /** Every request being served, until its answer is written. */
  private readonly serving = new Set<Promise<void>>();
  private readonly counts = new Map<Outcome, number>();
  private messages = 0;
  private bytes = 0;
  private lastError: string | undefined;
  private readonly metrics: HttpSourceMetrics;
  private readonly log: RateLog;
  private readonly maxTopicLength: number;

  constructor(
    private readonly options: HttpSourceOptions,
    private readonly deps: SourceDeps,
    private readonly auth: HttpAuth,
  ) {
    this.name = options.name;
    this.metrics = httpSourceMetrics(deps.registry);
    this.log = rateLimitedLog(deps.logger, 'warn', LOG_EVERY_MS, clocksOf(deps).monotonic);
    this.maxTopicLength = deps.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH;
  }

  start(intake: Intake): Promise<void> {
    const run = this.listen(intake, this.stops);
    this.starting = run.catch(() => undefined);
    return run;
  }

  private async listen(intake: Intake, stopsBefore: number): Promise<void> {
    const o = this.options;
    this.stopping = false;
    this.state = 'starting';
    const clocks = clocksOf(this.deps);
    const server = await createHardenedServer(
      {
        name: this.name,
        tls: o.tls ? { files: o.tls, kind: httpSourceTls(this.name), index: 0 } : undefined,
        maxConnections: o.maxConnections,
        requestTimeoutMs: o.requestTimeoutMs,
        onDrop: () => {
          this.metrics.dropped.inc({ source: this.name });
          this.log('dropped', { maxConnections: o.maxConnections }, 'http source: maxConnections connections open, a new one was closed');
        },
        plainHttp: {
          what: `http source '${this.name}'`,
          metric: {
            name: 'gatehouse_http_source_plain_http_total',
            help: 'Connections to HTTPS http sources (tls) that did not open with a TLS handshake: answered 400 and closed',
            labels: { source: this.name },
          },
          answer: (url) =>
            ERRORS.GH_HTTP_SOURCE_REQUEST({ reason: `plain HTTP request sent to an HTTPS port: http source '${this.name}' serves HTTPS only at ${url}` }),
        },
      },
      (req, res) => this.handle(req, res),
      { logger: this.deps.logger, registry: this.deps.registry, now: clocks.now, monotonic: clocks.monotonic },
    ).catch((err: unknown) => {
      this.state = 'failed';
      this.lastError = errorMessage(err);
      throw err;
    });
    if (this.stops !== stopsBefore) return;
    this.server = server;
    try {
      await listenOn(server.server, o.port, o.host);
    } catch (err) {
      this.state = 'failed';
      this.server = undefined;
      await server.close();
      const e = ERRORS.GH_HTTP_SOURCE_LISTEN(
        { source: this.name, host: urlHost(o.host), port: o.port, reason: (err as Error).message },
        {
          where: `sources.${this.name}.port`,
          ...((err as NodeJS.ErrnoException).code === 'EACCES' ? { hint: PRIVILEGED_PORT_HINT } : {}),
          cause: err,
        },
      );
      this.lastError = e.message;
      throw e;
    }
    if (this.stops !== stopsBefore) return; // the stop, waiting for this start, closes it
    this.port = (server.server.address() as AddressInfo).port;
    this.intake = intake;
    server.servedTls?.start();
    this.state = 'running';
    this.deps.logger.info({ host: o.host, port: this.port, tls: o.tls !== undefined, auth: this.auth.describe() }, 'http source listening');
  }

  async stop(): Promise<void> {
    this.stops++;
    this.stopping = true;
    await this.starting;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.server.close(); // no new connections; resolved below by close()
      server.server.closeIdleConnections();
      for (const req of this.reading) req.destroy();
      // Bounded: a commit a full 'reject' stream holds would hold the stop for ever.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        Promise.allSettled([...this.serving]).then(() => true),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), this.options.stopDrainMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained)
        this.deps.logger.warn(
          { unanswered: this.serving.size, stopDrainMs: this.options.stopDrainMs },
          'http source stopped with requests still waiting for their commits: closed unanswered (their clients send them again)',
        );
      await server.close();
    }
    this.intake = undefined;
    if (this.state !== 'failed') this.state = 'stopped';
  }

  async reloadTls(): Promise<TlsReloadOutcome[]> {
    return this.server?.servedTls ? this.server.servedTls.reload() : [];
  }

  /** Its certificate as last read (start, SIGHUP, the daily check), for /healthz beside the broker's and the admin API's. */
  servedCertificates(): CertExpiryEntry[] {
    return this.server?.servedTls?.expiryEntries() ?? [];
  }

  status(): SourceStatus {
    const o = this.options;
    return {
      kind: this.kind,
      name: this.name,
      state: this.state,
      details: {
        url: `${o.tls ? 'https' : 'http'}://${urlHost(o.host)}:${this.port ?? o.port}/topics/`,
        host: o.host,
        port: this.port ?? o.port,
        tls: o.tls !== undefined,
        auth: this.auth.describe(),
        inFlight: this.inFlight,
        messages: this.messages,
        bytes: this.bytes,
        requests: Object.fromEntries(this.counts),
        bannedAddresses: this.auth.bannedCount(),
        ...(this.lastError ? { lastError: this.lastError } : {}),
      },
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const served: Promise<void> = this.serve(req, res)
      .catch((err: unknown) => {
        // A bug, not a client's fault: said, answered 500, never a crash.
        this.deps.logger.error({ err: errorMessage(err) }, 'http source: request failed');
        this.answerError(res, 500, 'failed', ERRORS.GH_INTERNAL({ reason: errorMessage(err) }), { close: true });
      })
      .finally(() => {
        this.reading.delete(req);
        this.serving.delete(served);
      });
    this.serving.add(served);
  }

  private count(outcome: Outcome): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
    this.metrics.requests.inc({ source: this.name, outcome });
  }

  private answerError(res: ServerResponse, status: number, outcome: Outcome, err: GatehouseError, options: AnswerOptions = {}): void {
    this.count(outcome);
    sendJson(res, status, errorBody(err), options);
  }

  private refuse(res: ServerResponse, r: Refusal, close: boolean): void {
    const err = r.status === 413 ? ERRORS.GH_HTTP_SOURCE_TOO_LARGE({ reason: r.reason }) : ERRORS.GH_HTTP_SOURCE_REQUEST({ reason: r.reason });
    this.answerError(res, r.status, r.outcome, err, { close, ...(r.status === 405 ? { headers: { allow: 'POST' } } : {}) });
  }

  private busy(res: ServerResponse, reason: string): void {
    this.answerError(res, 503, 'busy', ERRORS.GH_HTTP_SOURCE_BUSY({ reason }), { close: true, retryAfterSeconds: this.options.retryAfterSeconds });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.options;
    const intake = this.intake;
    if (this.stopping || !intake) return this.busy(res, 'the gateway is stopping: send it again later');
    const target = parseTarget(req.method, req.url, { maxTopicLength: this.maxTopicLength, publishLocal: o.publishLocal });
    if ('status' in target) return this.refuse(res, target, true);
    const encoding = bodyEncoding(req.headers['content-encoding']);
    if ('status' in encoding) return this.refuse(res, encoding, true);
    if (this.inFlight >= o.maxInFlight) return this.busy(res, `${o.maxInFlight} requests are waiting for their commits (maxInFlight): send it again later`);
    this.inFlight++;
    this.reading.add(req);
    try {
      // one form per client, as the broker's (bans, sourceip()): an IPv4 client of a `::` host is its IPv4 address
      const address = peerAddress(req.socket);
      const auth = await this.auth.check(req.headers.authorization, address);
      if (!auth.ok) {
        // as the broker's bans: the log names the address (a device with an old password, or someone guessing)
        if (auth.newlyBanned)
          this.log(
            'ban',
            { ip: address, maxFailures: o.auth.maxFailures, bannedNow: this.auth.bannedCount() },
            'http source: repeated failed authentication: temporary ban (429)',
          );
        const err = ERRORS.GH_HTTP_SOURCE_UNAUTHORIZED({ reason: auth.reason });
        if (auth.status === 401)
          return this.answerError(res, 401, auth.outcome, err, {
            close: true,
            headers: { 'www-authenticate': 'Bearer realm="gatehouse", Basic realm="gatehouse"' },
          });
        return this.answerError(res, auth.status, auth.outcome, err, { close: true, retryAfterSeconds: auth.retryAfterSeconds ?? o.retryAfterSeconds });
      }
      const { credential } = auth;
      if (!topicAllowed(credential, target.topic)) {
        const reason = `${credential.name ?? 'this credential'} may not post to ${JSON.stringify(target.topic.slice(0, 200))}`;
        return this.answerError(res, 403, 'forbidden', ERRORS.GH_HTTP_SOURCE_UNAUTHORIZED({ reason }), { close: true });
      }
      const read = await readBody(req, o.maxBodyBytes, encoding.encoding);
      if ('gone' in read) return this.count('aborted');
      if ('tooLarge' in read) {
        const what =
          read.decoded !== undefined
            ? `the ${encoding.encoding} body decodes to more than maxBodyBytes (${o.maxBodyBytes}): decoding stopped at ${read.decoded} bytes`
            : `the body is over maxBodyBytes (${o.maxBodyBytes})`;
        return this.refuse(res, { status: 413, outcome: 'too-large', reason: `${what}: nothing was taken` }, true);
      }
      if ('corrupt' in read)
        return this.refuse(
          res,
          { status: 400, outcome: 'bad-request', reason: `the ${encoding.encoding} body does not decode (${read.corrupt.slice(0, 120)}): nothing was taken` },
          true,
        );
      this.reading.delete(req);
      const payloads = isNdjson(req.headers['content-type']) ? ndjsonLines(read.body, o.maxBatchMessages) : [read.body];
      if (!Array.isArray(payloads)) return this.refuse(res, payloads, false);
      await this.commit(res, req, target, payloads, credential.name);
    } finally {
      this.inFlight--;
    }
  }

  /** Submit every message in order, wait for all to settle, and answer. */
  private async commit(
    res: ServerResponse,
    req: IncomingMessage,
    { topic, params, retain }: Target,
    payloads: Buffer[],
    principal: string | undefined,
  ): Promise<void> {
    const intake = this.intake as Intake;
    const receivedAt = clocksOf(this.deps).now();
    const contentType = isNdjson(req.headers['content-type']) ? 'application/json' : req.headers['content-type'];
    const properties: MessageProperties | undefined =
      contentType || params ? { ...(contentType ? { contentType } : {}), ...(params ? { userProperties: params } : {}) } : undefined;
    const ip = peerAddress(req.socket);
    const commits: Array<Promise<void>> = [];
    for (const payload of payloads) {
      const message: Message = {
        topic,
        payload,
        qos: 1,
        ...(retain ? { retain: true } : {}),
        source: { kind: 'http', id: this.name, ...(ip ? { ip } : {}), ...(principal ? { principal } : {}) },
        receivedAt,
        ...(properties ? { properties } : {}),
      };
      let c: Promise<void> | undefined;
      try {
        c = intake.submit(message);
      } catch (err) {
        c = Promise.reject(err);
      }
      if (c) commits.push(c);
    }
    const results = await Promise.allSettled(commits);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      const err = failed.reason instanceof GatehouseError ? failed.reason : ERRORS.GH_INTERNAL({ reason: errorMessage(failed.reason) });
      this.lastError = err.message;
      this.log(`refused:${err.code}`, { err: err.message, topic }, 'http source: a commit was refused: answered 5xx, the client sends it again');
      if (PASSING_REFUSALS.has(err.code)) return this.answerError(res, 503, 'store-refused', err, { retryAfterSeconds: this.options.retryAfterSeconds });
      return this.answerError(res, 500, 'failed', err);
    }
    let bytes = 0;
    for (const p of payloads) bytes += p.length;
    this.messages += payloads.length;
    this.bytes += bytes;
    this.metrics.messages.inc({ source: this.name }, payloads.length);
    this.metrics.bytes.inc({ source: this.name }, bytes);
    // After the commit, as AWS IoT's: a retained one replaces the broker's last value of the topic
    // (an NDJSON batch: its last line), within broker.maxRetainedMessages / maxRetainedBytes.
    if (this.options.publishLocal && this.deps.publish) for (const p of payloads) this.deps.publish(topic, p, retain ? { retain: true } : undefined);
    // Gone: its connection closed, or its side ended (node's server, httpAllowHalfOpen off, ends a
    // connection whose client ended its side: no answer can reach it).
    const socket = res.socket;
    if (res.destroyed || !socket || socket.destroyed || socket.readableEnded) return this.count('client-gone');
    this.count('accepted');
    sendJson(res, 200, { message: 'OK', topic, messages: payloads.length });
  }
}
