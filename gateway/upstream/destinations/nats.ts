// NATS JetStream destination: every record is published with an acknowledgement and the message
// id "<installation>:<stream>:<seq>" (Nats-Msg-Id; the installation id: ../installation-id.ts), so JetStream drops resends of
// a record within the stream's duplicate window, and only those. The connection is made in the
// background: start() never blocks on the network, and send() throws (retryable) while
// disconnected. What its errors mean: nats-errors.ts. Through the site's proxy where one is
// configured (nats-routes.ts, nats-transport.ts), as the other destinations.
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions, JetStreamClient, NatsConnection, PubAck } from 'nats';
import type { RuntimeDeps } from '../../../core/deps.js';
import { ERRORS, GatehouseError } from '../../../core/errors.js';
import type { StoredRecord } from '../../store/types.js';
import { INSTALLATION_ID_FILE, lazyInstallationId } from '../installation-id.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { OK, compileTemplate, destinationMetrics, renderTemplate, sendOutcome, shortError } from './common.js';
import { withoutCredentials } from '../../../core/broker-url.js';
import { rateLimitedLog } from '../../../core/rate-log.js';
import { clocksOf } from '../../../core/clock.js';
import { topicToSubject, type NatsOptions } from './nats-options.js';
import { ensureJetStream } from './nats-stream.js';
import { JS_API_PERMISSION_HINT, NATS_CODES, describeNatsCode, natsCallReason, notConnectedHint, recordFailure, type NatsErrorLike } from './nats-errors.js';
import type { ProxySettings } from '../proxy.js';
import { routeLines, routedOptions, serverRoutes, type ServerRoute } from './nats-routes.js';
import { expiredOnDiskError } from '../cert-expired.js';

// The options schema and the subject naming (nats-options.ts), where tests and the registry import them from.
export { natsOptionsSchema, streamSubjects, topicToSubject, type NatsOptions } from './nats-options.js';

/** The kind of a proxy's fault (refused, unreachable, closed) and its status: what its log lines are keyed by. */
function proxyFaultKind(fault: GatehouseError): string {
  const d = fault.details as { fault?: string; status?: number } | undefined;
  return `${d?.fault ?? '?'}${d?.status === undefined ? '' : ` ${d.status}`}`;
}

/** A publish's own timeout, in ackTimeoutMs (the send's is ackTimeoutMs of silence): see send(). */
const PUBLISH_TIMEOUT_FACTOR = 6;

/**
 * `installationId`: the message ids' installation id, a gateway's (bound to its store and machine:
 * installation-id.ts); else the one kept in `dataDir`, or without one, one per process.
 */
export function createNatsDestination(
  o: NatsOptions,
  deps: RuntimeDeps & { dataDir?: string | undefined; installationId?: (() => Promise<string>) | undefined; network?: ProxySettings | undefined },
): Destination & { serverRoutes: readonly ServerRoute[] } {
  const servers = Array.isArray(o.servers) ? o.servers : [o.servers];
  // Strip any user:pass@ from URLs shown in status.
  const target = `nats:${servers.map(withoutCredentials).join(',')}/${o.stream}`;
  const limits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  // Direct or through the site's proxy, per server (a CONNECT tunnel: nats-transport.ts), decided here, printed by check-config.
  const routes = serverRoutes(servers, o, deps.network);
  const metrics = destinationMetrics(deps.registry);
  const log = deps.logger.child({ component: 'destination', kind: 'nats', target });
  const mono = clocksOf(deps).monotonic;
  const serverErrorLog = rateLimitedLog(log, 'warn', 60_000, mono);
  // A connection down: its first failure (or the disconnect) is logged at once, the attempts after
  // it once a minute per reason with the count, and the connect that ends it with how long and how
  // many attempts. Each failed first connect had a line of its own: a nats-server down for a night
  // at the default reconnectWaitMs (2 s, backoff capped at 30 s with full jitter) made ~4 a minute,
  // ~2,900 in 12 hours (measured: 9 in 90 s); a server flapping made two lines per flap.
  const downLog = rateLimitedLog(log, 'warn', 60_000, mono);
  const upLog = rateLimitedLog(log, 'info', 60_000, mono);
  /** Since when (monotonic) the connection is down and how many attempts failed since; undefined while up. */
  let down: { since: number; attempts: number } | undefined;
  const wentDown = (): void => {
    down ??= { since: mono(), attempts: 0 };
  };
  /** The fields of the line that ends an outage (none when there was none: the first connect at once). */
  const cameUp = (): { downMs: number; attempts: number } | undefined => {
    const d = down;
    down = undefined;
    return d && { downMs: Math.round(mono() - d.since), attempts: d.attempts };
  };
  const subjectParts = compileTemplate(o.subject, ['stream', 'key', 'topic'], 'nats.subject', (m) => log.warn(m));
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let connected = false;
  let started = false;
  /**
   * Which start() the connection attempts in flight belong to: start() and stop() each move it on.
   * An attempt that settles after a stop() (a server that hung in its greeting, then answered)
   * closes what it got and retries no more, also when start() ran again meanwhile: its
   * connection lived on beside the new one (socket, reconnect timers, handlers), never closed.
   */
  let epoch = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let firstAttempts = 0;
  let streamReady: Promise<void> | undefined;
  /** Why the last connection attempt failed or the connection dropped, for send()'s error; cleared on connect. */
  let connError: string | undefined;
  /** The proxy's fault (GH_UPSTREAM_PROXY) when it is connError's: send() throws it as is. */
  let proxyFault: GatehouseError | undefined;
  let connOptions: ConnectionOptions | undefined;
  /** The message ids' installation id (installation-id.ts), read or made at the first send. */
  const installationId = deps.installationId ?? lazyInstallationId(deps.dataDir);

  // The nats client (~0.5 MiB of JS) loads when a NATS destination starts, not with the gateway.
  let lib: typeof import('nats');

  async function connectOptions(mine: number): Promise<ConnectionOptions> {
    lib ??= await import('nats');
    const { installTransport } = await import('./nats-transport.js');
    const { credsAuthenticator } = lib;
    const co: ConnectionOptions = {
      servers,
      name: o.name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectWaitMs,
      // Each attempt, the proxy's answer to the CONNECT included: a hung one is closed (nats-transport.ts).
      timeout: o.connectTimeoutMs,
      // Keep reconnecting through authorization errors: by default the client gives up for good
      // after the same auth error twice, and a server whose authorization was wrong for a moment
      // (a reload, a rotation) left this destination disconnected until the gateway restarted.
      ignoreAuthErrorAbort: true,
    };
    if (o.credsFile) co.authenticator = credsAuthenticator(new Uint8Array(await readFile(o.credsFile)));
    if (o.user !== undefined) {
      co.user = o.user;
      co.pass = o.password;
    }
    if (o.token !== undefined) co.token = o.token;
    if (o.tls) co.tls = { ...o.tls };
    return routedOptions(co, routes, target, (fault) => proxyReport(fault, mine), installTransport);
  }

  /** A tunnel's outcome (nats-transport.ts): the proxy's fault, kept for send(), or none once a tunnel opened. */
  function proxyReport(fault: GatehouseError | undefined, mine: number): void {
    if (mine !== epoch) return;
    proxyFault = fault;
    if (!fault) return;
    connError = fault.message;
    // The client's own reconnects (first connects: firstConnect says it): once a minute per kind of fault.
    if (nc) downLog(`proxy ${proxyFaultKind(fault)}`, { err: fault.message, code: fault.code }, 'NATS: the proxy did not open the tunnel; reconnecting');
  }

  async function watchStatus(c: NatsConnection): Promise<void> {
    for await (const s of c.status()) {
      // A stopped connection (still draining) speaks no more for this destination's state.
      if (nc !== c) break;
      if (s.type === 'disconnect') {
        connected = false;
        streamReady = undefined;
        wentDown();
        downLog('disconnect', {}, 'NATS disconnected');
      } else if (s.type === 'reconnecting') {
        // One per attempt of the client's own reconnect logic: counted, said when it ends.
        if (down) down.attempts++;
      } else if (s.type === 'reconnect') {
        connected = true;
        connError = undefined;
        proxyFault = undefined;
        upLog('reconnect', { ...cameUp() }, 'NATS reconnected');
      } else if (s.type === 'error') {
        // A permissions violation is about a subject (each refused publish, named in its record's
        // error), not the connection: kept as the reason it is down, it blamed the credentials
        // for a server that was later simply unreachable.
        if (String(s.data) !== 'PERMISSIONS_VIOLATION') connError = describeNatsCode(String(s.data));
        // One per refused publish (a permissions violation): at most a line a minute per error.
        serverErrorLog(String(s.data), { err: describeNatsCode(String(s.data)) }, 'NATS server error');
      }
    }
  }

  /** The client closed for good (it should not: it reconnects forever): start over, unless stopping. */
  function watchClosed(c: NatsConnection): void {
    void c.closed().then((err) => {
      // Stopped (nc is cleared), or a connection this destination no longer uses.
      if (nc !== c) return;
      nc = undefined;
      js = undefined;
      connected = false;
      streamReady = undefined;
      connError = err ? shortError(err) : 'the connection was closed';
      wentDown();
      downLog(`closed ${connError}`, { err: connError }, 'NATS connection closed; connecting again');
      if (connOptions) scheduleConnect(connOptions, epoch);
    });
  }

  function scheduleConnect(co: ConnectionOptions, mine: number): void {
    const cap = Math.min(30_000, o.reconnectWaitMs * 2 ** Math.min(firstAttempts++, 10));
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        if (mine === epoch) firstConnect(co, mine);
      },
      Math.max(50, Math.floor(Math.random() * cap)),
    );
  }

  /** The JetStream stream checked (or made: nats-stream.ts) once per connection; a failure is tried again at the next send. */
  function ensureStream(): Promise<void> {
    streamReady ??= ensureJetStream(nc!, o, lib.nanos, log).catch((err: unknown) => {
      streamReady = undefined;
      throw err;
    });
    return streamReady;
  }

  /**
   * First connection: our own retry loop (backoff with full jitter, capped) instead of
   * waitOnFirstConnect, whose endless attempt cannot be cancelled by stop(). Once connected,
   * the client's own reconnect logic takes over. `mine` is the epoch of the start() it serves.
   */
  function firstConnect(co: ConnectionOptions, mine: number): void {
    lib.connect(co).then(
      (c) => {
        if (mine !== epoch) {
          void c.close().catch(() => undefined);
          return;
        }
        nc = c;
        js = c.jetstream({ timeout: o.ackTimeoutMs });
        connected = true;
        connError = undefined;
        proxyFault = undefined;
        firstAttempts = 0;
        void watchStatus(c);
        watchClosed(c);
        const outage = cameUp();
        if (outage) upLog('connect', outage, 'NATS connected');
        else log.info('NATS connected');
      },
      (err: unknown) => {
        if (mine !== epoch) return;
        const code = (err as NatsErrorLike | undefined)?.code;
        // The client's own timeout of an attempt whose tunnel the proxy never opened is the proxy's fault too (reported by the transport).
        const fault = code === 'GH_UPSTREAM_PROXY' ? (err as GatehouseError) : proxyFault;
        proxyFault = fault;
        connError = fault ? fault.message : code !== undefined && NATS_CODES[code] !== undefined ? NATS_CODES[code] : shortError(err);
        wentDown();
        down!.attempts++;
        // Keyed by the reason (a proxy's fault by its kind): another fault (the server back with the credentials refused) shows at once.
        downLog(
          fault ? `connect proxy ${proxyFaultKind(fault)}` : `connect ${connError}`,
          { err: connError, attempts: down!.attempts, downMs: Math.round(mono() - down!.since) },
          'NATS connection failed; retrying',
        );
        scheduleConnect(co, mine);
      },
    );
  }

  function subjectOf(r: StoredRecord): string {
    return renderTemplate(subjectParts, (f) => (f === 'stream' ? r.stream : f === 'key' ? (r.key ? topicToSubject(r.key) : '_') : topicToSubject(r.topic)));
  }

  return {
    kind: 'nats',
    target,
    limits,
    route: routes[0]!.route,
    serverRoutes: routes,
    async start() {
      if (started) return;
      started = true;
      const mine = ++epoch;
      for (const line of routeLines(routes, true)) log.info({ route: line }, `upstream ${line}`);
      const co = await connectOptions(mine);
      // stop() ran while the options were read: it ended this start.
      if (mine !== epoch) return;
      connOptions = co;
      firstConnect(co, mine);
    },
    async stop() {
      epoch++;
      started = false;
      down = undefined;
      proxyFault = undefined;
      connOptions = undefined;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      const c = nc;
      nc = undefined;
      js = undefined;
      connected = false;
      streamReady = undefined;
      if (!c) return;
      // drain() waits for the server: bound it, then close regardless (the server may be down).
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([c.drain().catch(() => undefined), bounded]);
      clearTimeout(timer);
      if (!c.isClosed()) await c.close().catch(() => undefined);
    },
    async send(records, signal) {
      if (!nc || !js || !connected || nc.isClosed()) {
        // A proxy refusing the credentials or the port (details.setup) counts as auth, as for the other destinations.
        const setup = (proxyFault?.details as { setup?: boolean } | undefined)?.setup === true;
        const why = connError;
        // A client certificate (or CA) past its date, by this gateway's clock: said so, not a bare TIMEOUT (the client reads the files at each connect).
        const expired = proxyFault ? undefined : await expiredOnDiskError('NATS is not connected', o.tls, why, target);
        metrics.calls.inc({
          kind: 'nats',
          target,
          outcome: 'retryable',
          reason: setup || expired ? 'auth' : proxyFault ? 'network' : natsCallReason(connError, 'network'),
        });
        // The proxy refused the tunnel or is down: its own code and hint (held, never dead-lettered).
        if (proxyFault) throw proxyFault;
        if (expired) throw expired;
        throw ERRORS.GH_EXPORT_RETRYABLE({ reason: `NATS is not connected${why ? ` (${why})` : ''}` }, { where: target, hint: notConnectedHint(why) });
      }
      try {
        await ensureStream();
      } catch (err) {
        // A missing stream is the request's fault (client, as a missing Kinesis stream or S3 bucket).
        const missing = err instanceof GatehouseError && err.code === 'GH_DESTINATION_CONFIG';
        metrics.calls.inc({ kind: 'nats', target, outcome: 'retryable', reason: missing ? 'client' : natsCallReason(shortError(err), 'server') });
        if (err instanceof GatehouseError) throw err;
        // The user may not call JetStream's API (its permissions leave out $JS.API.>): a setup fault, named.
        if ((err as NatsErrorLike).code === 'PERMISSIONS_VIOLATION')
          throw ERRORS.GH_EXPORT_RETRYABLE(
            { reason: `JetStream stream check failed: ${shortError(err)}` },
            { where: target, cause: err, hint: JS_API_PERMISSION_HINT, details: { setup: true } },
          );
        throw ERRORS.GH_EXPORT_RETRYABLE({ reason: `JetStream stream check failed: ${shortError(err)}` }, { where: target, cause: err });
      }
      let installation: string;
      try {
        installation = await installationId();
      } catch (err) {
        metrics.calls.inc({ kind: 'nats', target, outcome: 'retryable', reason: 'io' });
        throw ERRORS.GH_EXPORT_RETRYABLE(
          { reason: `cannot keep the installation id (the message ids' prefix) in ${INSTALLATION_ID_FILE} of the data dir: ${shortError(err)}` },
          { where: target, cause: err, hint: 'check the data dir is writable and has space; the records wait in the local stream' },
        );
      }
      signal.throwIfAborted();
      const client = js;
      // ackTimeoutMs is silence: the send waits until no acknowledgement of it came for that long
      // (each one starts the wait again), not for each publish from its call. On a slow uplink (a
      // modem at 4 KB/s: 16 records of 1 KB take 4 s) the publishes wait in the connection's buffer,
      // and a fixed timeout per publish failed those at the back while they were on the way:
      // resent, they crossed the link twice (JetStream drops the copy; the link carried it). Each
      // publish keeps a timeout of its own, PUBLISH_TIMEOUT_FACTOR times longer: it bounds how long
      // the client holds the requests of a send given up on (a frozen server).
      const settled: Array<PromiseSettledResult<PubAck> | undefined> = new Array(records.length);
      let open = records.length;
      let finished = false;
      let wake: () => void = () => undefined;
      let silence: NodeJS.Timeout | undefined;
      const done = new Promise<void>((resolve) => {
        wake = resolve;
        silence = setTimeout(resolve, o.ackTimeoutMs);
      });
      signal.addEventListener('abort', wake, { once: true });
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        const h = lib.headers();
        h.set('Gatehouse-Topic', r.topic);
        client
          .publish(subjectOf(r), r.payload, { msgID: `${installation}:${r.stream}:${r.seq}`, headers: h, timeout: o.ackTimeoutMs * PUBLISH_TIMEOUT_FACTOR })
          .then(
            (value) => {
              if (finished) return;
              settled[i] = { status: 'fulfilled', value };
              silence?.refresh();
              if (--open === 0) wake();
            },
            (reason: unknown) => {
              if (finished) return;
              settled[i] = { status: 'rejected', reason };
              if (--open === 0) wake();
            },
          );
      }
      if (open === 0) wake();
      await done;
      finished = true;
      clearTimeout(silence);
      // The loop's signal outlives this call: never leave a listener per batch on it.
      signal.removeEventListener('abort', wake);
      const results: RecordResult[] = new Array(records.length);
      let duplicates = 0;
      for (let i = 0; i < settled.length; i++) {
        // Not acknowledged within ackTimeoutMs of silence: as a publish's own timeout says.
        const s = settled[i] ?? {
          status: 'rejected',
          reason: { code: 'TIMEOUT', message: `no JetStream acknowledgement within ${o.ackTimeoutMs} ms of silence (ackTimeoutMs)` },
        };
        if (s.status === 'fulfilled') {
          results[i] = OK;
          if (s.value.duplicate) duplicates++;
        } else {
          const r = records[i]!;
          const res = recordFailure(s.reason, { bytes: r.payload.length, maxPayload: nc?.info?.max_payload, subject: subjectOf(r), stream: o.stream });
          results[i] = res;
          metrics.recordFailures.inc({ kind: 'nats', target, code: res.ok ? 'OK' : (res.code ?? 'NATS_ERROR') });
        }
      }
      if (duplicates > 0) log.debug({ duplicates }, 'JetStream dropped resent records as duplicates');
      metrics.calls.inc({ kind: 'nats', target, ...sendOutcome(results) });
      return results;
    },
  };
}
