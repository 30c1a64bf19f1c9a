// MQTT bridge destination: forwards records to an upstream (cloud) broker with mqtt.js, QoS 1,
// persistent session (clean: false, stable clientId). A record is ok only after its PUBACK.
// While disconnected, send() throws (retryable); publishes cut off by a disconnect come back as
// retryable results. Reconnects use exponential backoff with full jitter.
//
// Loop prevention (mqtt-topics.ts): every message bridged up carries the MQTT 5 user property
// `gatehouse-bridged: <clientId>` (and `gatehouse-id: <stream>:<seq>`). A record whose attrs
// hold `gatehouse-bridged` (set when a message arrived through a bridge) or whose topic matches
// a `neverForward` filter is acknowledged without sending, so a message bridged down is never
// bridged back up.
//
// The clientId may hold ${gatewayId} and ${installationId} (as mosquitto's bridge takes %h): one
// config for a fleet flashed from one SD card image gives each gateway its own client id, where a
// fixed one had them take the session from each other at every connect (docs/destinations.md, "A
// fleet from one image").
import { readClientTlsFiles, refreshTlsFiles, type ClientTlsContext } from '../../../core/tls-files.js';
import { persistentClientOptions } from '../../../core/mqtt-client.js';
import type { IClientOptions, MqttClient } from 'mqtt';
import { logRoute, mqttRouteFor, type ProxySettings } from '../proxy.js';
import { mqttConnector, proxyErrorOf, type MqttConnect } from '../mqtt-tunnel.js';
import type { GatehouseError } from '../../../core/errors.js';
import { hostGatewayId, type RuntimeDeps } from '../../../core/deps.js';
import { ERRORS } from '../../../core/errors.js';
import type { Destination, DestinationLimits, RecordResult } from '../types.js';
import { OK, compileTemplate, destinationMetrics, sendOutcome, shortError } from './common.js';
import { INSTALLATION_ID_FILE } from '../installation-id.js';
import { renderClientId, templatedClientId } from '../client-id.js';
import { forgetStored, publishOne, publishSize, unansweredResult, type GeneratePacket, type SendEnd } from './mqtt-publish.js';
import { expiredCertificateError, expiredCertificateReason, heldTlsFiles } from '../cert-expired.js';
import { STABLE_MS, STOP_GRACE_MS, closedReason, connectHint, notConnectedReason } from './mqtt-hints.js';
import { withoutCredentials } from '../../../core/broker-url.js';
import { rateLimitedLog } from '../../../core/rate-log.js';
import { clocksOf } from '../../../core/clock.js';
import { DEFAULT_BRIDGE_SESSION_EXPIRY_SEC, bridgeSessionExpiryIgnored, sharedBridgeClientIdWarning, type MqttBridgeOptions } from './mqtt-options.js';
import { cameThroughBridge, compileFilter, matchFilter, remoteTopic, type CompiledMap } from './mqtt-topics.js';

// The options schema (mqtt-options.ts) and the topic matching (mqtt-topics.ts), where tests and the registry import them from.
export { mqttBridgeOptionsSchema, type MqttBridgeOptions } from './mqtt-options.js';
export { BRIDGED_PROPERTY, ID_PROPERTY, cameThroughBridge, compileFilter, matchFilter } from './mqtt-topics.js';

/** Where the bridge's TLS files sit (destination-relative, as this destination's other errors), for readClientTlsFiles. */
const MQTT_DESTINATION_TLS: ClientTlsContext = {
  where: { ca: 'mqtt.caFile', cert: 'mqtt.certFile', key: 'mqtt.keyFile' },
  subject: 'MQTT destination',
  code: 'GH_DESTINATION_CONFIG',
};

/**
 * `gatewayId` (default: the host name, as the config's) and `installationId` (a gateway's, bound to
 * its store and machine: installation-id.ts; else the one kept in `dataDir`) fill the clientId's
 * ${gatewayId} and ${installationId}.
 */
export function createMqttBridgeDestination(
  o: MqttBridgeOptions,
  deps: RuntimeDeps & {
    dataDir?: string | undefined;
    gatewayId?: string | undefined;
    installationId?: (() => Promise<string>) | undefined;
    network?: ProxySettings | undefined;
  },
): Destination {
  const idParts = compileTemplate(o.clientId, ['gatewayId', 'installationId'], 'mqtt.clientId');
  const gatewayId = deps.gatewayId ?? hostGatewayId();
  /** The client id the broker sees: the template filled (${installationId} once known, at start). */
  const templated = templatedClientId(idParts, { ...deps, gatewayId });
  const maps: CompiledMap[] = o.topics.map((m) => ({ levels: compileFilter(m.local), strip: m.stripPrefix, prefix: m.remotePrefix }));
  const never = o.neverForward.map(compileFilter);
  // The client id as configured, ${gatewayId} filled: the target (a metrics label) stays one through an installation id made anew.
  const target = `mqtt:${withoutCredentials(o.url)} (${renderClientId(idParts, { gatewayId })})`;
  const limits: DestinationLimits = { maxRecords: o.maxRecords, maxRecordBytes: o.maxRecordBytes, maxBatchBytes: o.maxBatchBytes };
  const metrics = destinationMetrics(deps.registry);
  const log = deps.logger.child({ component: 'destination', kind: 'mqtt', target });
  // The client's errors, one line a minute per error with the count: while the broker is down or
  // refuses the login, each reconnect (every 15 s on average at reconnectMaxMs 30 s) failed with a
  // line of its own, ~240 an hour in the journal for an outage of hours (round 32). The exporter's
  // own warning carries the same reason.
  const errorLog = rateLimitedLog(log, 'warn', 60_000, clocksOf(deps).monotonic);
  // 'upstream MQTT connected': the first connect at once, a reconnect at most once a minute (with
  // downMs since the connection before closed, the count of connects, `suppressed`). A broker that
  // takes the connection and never PUBACKs made one per send (the bridge ends the connection after
  // ackTimeoutMs): 8 in 8 sends; a connection lost now and then is still said when it comes back.
  const connectedLog = rateLimitedLog(log, 'info', 60_000, clocksOf(deps).monotonic);
  let connects = 0;
  /** When (monotonic) the last connection closed; undefined before the first connect. */
  let closedAt: number | undefined;
  // Direct or through the site's proxy (proxy.ts; an HTTP CONNECT tunnel: mqtt-tunnel.ts), decided here, printed by check-config.
  const route = mqttRouteFor(o.url, o.proxy, deps.network);
  let client: MqttClient | undefined;
  let mqttConnect: MqttConnect | undefined;
  let stopping = false;
  let attempts = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  /** Maximum Packet Size the broker announced in its CONNACK (MQTT 5), if any. */
  let maxPacket: number | undefined;
  // mqtt-packet (loaded with mqtt.js at start: after gateway/broker/quiet-debug.ts hooked its debug) sizes a PUBLISH exactly.
  let generatePacket: GeneratePacket | undefined;
  /** The client's last error (a refused CONNACK, TLS, DNS...) while not connected, for send()'s error; cleared on connect. */
  let connError: string | undefined;
  /** The proxy's fault (GH_UPSTREAM_PROXY) when it is connError's: send() throws it as is. */
  let proxyFault: GatehouseError | undefined;
  /** When the current connection was accepted (performance.now()), and the reason code of the broker's DISCONNECT (MQTT 5). */
  let connectedAt: number | undefined;
  let closeReason: number | undefined;
  // Resolved at each disconnect: in-flight batches stop waiting for PUBACKs.
  let disconnected: { promise: Promise<void>; resolve: () => void } = deferred();
  /** A sessionExpirySec MQTT 3.1.1 cannot carry: said once, at the first start (check-config says it too). */
  let expiryIgnored = bridgeSessionExpiryIgnored(`MQTT destination ${target}`, o);
  /** A client id every board flashed from one image shares (check-config says it too): said once, at the first start. */
  let sharedClientId = sharedBridgeClientIdWarning(`MQTT destination ${target}`, gatewayId, o.clientId);

  function deferred(): { promise: Promise<void>; resolve: () => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  }

  function scheduleReconnect(): void {
    if (stopping || reconnectTimer || !client) return;
    // Exponential backoff with full jitter, capped.
    const cap = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(attempts, 20));
    const delay = Math.max(50, Math.floor(Math.random() * cap));
    attempts++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      const c = client;
      if (stopping || !c || c.connected) return;
      refreshTls(c);
      // Keep the stores: unacknowledged QoS 1 publishes are resent in the same session.
      c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
    }, delay);
  }

  /** Read the TLS files again before a reconnect: a renewed client certificate is presented (core/tls-files.ts). */
  let lastTlsError: string | undefined;
  function refreshTls(c: MqttClient): void {
    if (o.caFile === undefined && o.certFile === undefined && o.keyFile === undefined) return;
    const r = refreshTlsFiles(c.options, { ca: o.caFile, cert: o.certFile, key: o.keyFile });
    if (r.changed) log.info({ certFile: o.certFile, caFile: o.caFile }, 'upstream MQTT: TLS files changed on disk; the reconnect uses them');
    if ('error' in r && r.error !== lastTlsError) log.warn({ err: r.error, certFile: o.certFile }, 'upstream MQTT: TLS files not reloaded');
    lastTlsError = 'error' in r ? r.error : undefined;
  }

  function clientOptions(id: string): IClientOptions {
    const co = persistentClientOptions({ ...o, clientId: id, sessionExpirySec: o.sessionExpirySec ?? DEFAULT_BRIDGE_SESSION_EXPIRY_SEC });
    // Files are read and checked at start (a bad path or pair is a config error naming the option)
    // and read again before each reconnect (refreshTls).
    const { ca, cert, key } = readClientTlsFiles({ ca: o.caFile, cert: o.certFile, key: o.keyFile }, MQTT_DESTINATION_TLS);
    if (ca) co.ca = ca;
    if (cert) co.cert = cert;
    if (key) co.key = key;
    return co;
  }

  /** The client id filled, or undefined (connError says why) while the installation id cannot be kept. */
  async function resolveClientId(): Promise<string | undefined> {
    if (templated.known() !== undefined) return templated.known();
    try {
      await templated.resolve();
    } catch (err) {
      connError = `cannot keep the installation id (the clientId's \${installationId}) in ${INSTALLATION_ID_FILE} of the data dir: ${shortError(err)}`;
      errorLog('installation-id', { err: shortError(err) }, 'upstream MQTT: the client id cannot be made (tried again at each send)');
    }
    return templated.known();
  }

  /** Connect with client id `id`, unless stopped or connected meanwhile (the id may have been awaited). */
  function connectClient(id: string | undefined): void {
    if (id === undefined || mqttConnect === undefined || stopping || client) return;
    const c = mqttConnect(clientOptions(id));
    client = c;
    c.on('connect', (connack) => {
      connectedAt = performance.now();
      closeReason = undefined;
      connError = undefined;
      proxyFault = undefined;
      maxPacket = connack.properties?.maximumPacketSize;
      connects++;
      const fields = { clientId: templated.known(), sessionPresent: connack.sessionPresent };
      if (closedAt === undefined) log.info(fields, 'upstream MQTT connected');
      else connectedLog('reconnected', { ...fields, downMs: Math.round(clocksOf(deps).monotonic() - closedAt), connects }, 'upstream MQTT connected');
    });
    c.on('disconnect', (packet) => {
      closeReason = packet.reasonCode;
    });
    c.on('close', () => {
      if (connectedAt !== undefined) {
        const upMs = performance.now() - connectedAt;
        connectedAt = undefined;
        closedAt = clocksOf(deps).monotonic();
        // The reconnect backoff starts over only after a connection that lasted: one the broker
        // closes at once (another client with this clientId takes the session over, and back)
        // backs off to reconnectMaxMs instead of a takeover fight of several connects a second.
        if (upMs >= STABLE_MS) attempts = 0;
        // Why, as far as the broker said (with the network error, if any: connError since the CONNACK).
        if (!stopping) connError = closedReason(closeReason, connError);
      }
      const d = disconnected;
      disconnected = deferred();
      d.resolve();
      scheduleReconnect();
    });
    c.on('error', (err) => {
      connError = shortError(err);
      proxyFault = proxyErrorOf(err);
      // A proxy's fault is logged once a minute per kind (refused, unreachable...), never with the password (not in its text).
      if (proxyFault)
        errorLog(
          `proxy ${String((proxyFault.details as { fault?: string } | undefined)?.fault)}`,
          { err: connError, code: proxyFault.code },
          'upstream MQTT: the proxy did not open the tunnel',
        );
      else {
        // An expired client certificate's refusal is a TLS alert or a reset: the log line says which file and date.
        const expired = expiredCertificateReason('upstream MQTT', heldTlsFiles(o, c.options), connError, Date.now());
        errorLog(connError, { err: connError, ...(expired ? { code: 'GH_UPSTREAM_CERT_EXPIRED', reason: expired } : {}) }, 'upstream MQTT error');
      }
    });
  }

  return {
    kind: 'mqtt',
    target,
    limits,
    route,
    async start() {
      if (client) return;
      stopping = false;
      // mqtt.js loads when an MQTT destination starts, not with every gateway.
      mqttConnect ??= await mqttConnector(o.url, route, target);
      logRoute(log, route);
      generatePacket ??= (await import('mqtt-packet')).generate;
      if (client) return;
      if (expiryIgnored) log.warn({ fix: expiryIgnored.hint }, expiryIgnored.message);
      expiryIgnored = undefined;
      if (sharedClientId) log.warn({ fix: sharedClientId.hint }, sharedClientId.message);
      sharedClientId = undefined;
      // A client id holding ${installationId} waits for it (read at the gateway's start already);
      // one that cannot be kept (a full disk) is tried again at each send, which fails retryable meanwhile.
      connectClient(await resolveClientId());
    },
    async stop() {
      stopping = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      const c = client;
      client = undefined;
      disconnected.resolve();
      if (!c) return;
      // A clean end waits for the PUBACKs of publishes in flight: a broker that takes PUBLISHes and
      // never answers (stuck, overloaded, hostile) held stop(), and SIGTERM, forever. Bounded like
      // the NATS drain, then forced (those records are resent at the next start: never checkpointed).
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
      });
      const clean = await Promise.race([
        c.endAsync(!c.connected).then(
          () => true,
          () => true,
        ),
        bounded,
      ]);
      clearTimeout(timer);
      // mqtt.js ignores an end() while a first one waits for PUBACKs: a forced end() here was a
      // no-op, and the connection, its keepalive and handlers lived on until the broker's keepalive
      // ended it. Its socket is closed instead (disconnecting: mqtt.js does not reconnect).
      if (!clean) c.stream?.destroy();
    },
    async send(records, signal) {
      // Started without a client id (the installation id could not be kept): try again.
      if (client === undefined && !stopping && mqttConnect !== undefined && templated.known() === undefined) connectClient(await resolveClientId());
      const c = client;
      // (A connection ended by the bridge itself, below, is `connected` until its close event.)
      if (!c?.connected || c.stream?.destroyed) {
        // A proxy refusing the credentials or the port (details.setup) counts as auth, as for the HTTP destinations.
        const setup = (proxyFault?.details as { setup?: boolean } | undefined)?.setup === true;
        const why = connError;
        // A client certificate (or CA) past its date, as this gateway's clock reads it: said so, not a bare TLS alert or reset.
        const expired = proxyFault ? undefined : expiredCertificateError('upstream MQTT broker not connected', heldTlsFiles(o, c?.options), why, target);
        metrics.calls.inc({ kind: 'mqtt', target, outcome: 'retryable', reason: setup || expired ? 'auth' : notConnectedReason(connError) });
        // The proxy refused the tunnel or is down: its own code and hint (held, never dead-lettered, as for the HTTP destinations).
        if (proxyFault) throw proxyFault;
        if (expired) throw expired;
        throw ERRORS.GH_EXPORT_RETRYABLE({ reason: `upstream MQTT broker not connected${why ? ` (${why})` : ''}` }, { where: target, hint: connectHint(why) });
      }
      // The client id is filled once connected (the gatehouse-bridged mark of each PUBLISH).
      const bridgedId = templated.known() ?? o.clientId;
      // A refusal with a reason code (an ACL, a quota) is the broker's verdict on its record: counted by it.
      const refused = (code: string): void => metrics.recordFailures.inc({ kind: 'mqtt', target, code });
      const results: RecordResult[] = new Array(records.length);
      const pending: Promise<void>[] = [];
      /** This send's publish callbacks (to find its stored copies); `settled`: results are final. */
      const callbacks = new Set<unknown>();
      let settled = false;
      let acked = 0;
      /** The remote topic of each record published (for the error of a cut-off send). */
      const topics: string[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        if (cameThroughBridge(r.attrs) || never.some((f) => matchFilter(f, r.topic))) {
          results[i] = OK;
          metrics.skipped.inc({ kind: 'mqtt', target, reason: 'loop-prevention' });
          continue;
        }
        const topic = remoteTopic(maps, r.topic);
        if (topic === undefined) {
          results[i] = { ok: false, retryable: false, error: `topic '${r.topic}' matches no mqtt.topics mapping`, code: 'UNMAPPED' };
          metrics.recordFailures.inc({ kind: 'mqtt', target, code: 'UNMAPPED' });
          continue;
        }
        // The broker drops the connection on a PUBLISH over its Maximum Packet Size: resent after
        // each reconnect, such a record would cut the link forever and hold every record behind it.
        const size = maxPacket === undefined ? 0 : publishSize(r, topic, maxPacket, o, bridgedId, generatePacket);
        if (maxPacket !== undefined && size > maxPacket) {
          results[i] = {
            ok: false,
            retryable: false,
            error: `GH_EXPORT_PERMANENT: PUBLISH of ${size} bytes exceeds the broker's Maximum Packet Size of ${maxPacket} bytes`,
            code: 'TOO_LARGE',
          };
          metrics.recordFailures.inc({ kind: 'mqtt', target, code: 'TOO_LARGE' });
          continue;
        }
        topics[i] = topic;
        pending.push(
          publishOne(c, r, topic, o, bridgedId, callbacks, refused).then((res) => {
            if (settled) return;
            results[i] = res;
            if (res.ok) {
              acked++;
              // A PUBACK is progress: the wait is for ackTimeoutMs of silence, not for the whole
              // send, which on a slow uplink (a modem at 5 KB/s: 200 records of 1 KB take 40 s)
              // outlasts any fixed timeout; cut off while its PUBLISHes were still on the way,
              // each send was resent behind them and the link carried both copies.
              timer?.refresh();
            }
          }),
        );
      }
      // Wait for every PUBACK, or a disconnect / ackTimeoutMs without a PUBACK / abort, whichever first.
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const cutOff = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, o.ackTimeoutMs);
        onAbort = resolve;
        signal.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([Promise.all(pending), disconnected.promise, cutOff]);
      clearTimeout(timer);
      // The loop's signal outlives this call: never leave a listener per batch on it.
      if (onAbort) signal.removeEventListener('abort', onAbort);
      settled = true;
      const cut = !c.connected && !signal.aborted;
      // Unacknowledged (a cut, or no PUBACK in time): the loop resends those records itself.
      if (!signal.aborted) forgetStored(c, callbacks);
      // No PUBACK for ackTimeoutMs on a link still up: the connection is ended, and the loop's
      // resend goes on a new one. Left up, a PUBACK arriving late for a forgotten PUBLISH would be
      // matched by its message id alone, and mqtt.js hands ids out again (1..65535, in turn, the
      // forgotten ones included): once the counter came round, a late PUBACK would acknowledge a
      // newer PUBLISH still in the socket's queue, and that record would be checkpointed without the
      // broker ever having it. A new connection gets no PUBACK for the old one's PUBLISHes; and what
      // was still queued behind the silence (a stuck broker, a half-open TCP link) goes with it
      // instead of being sent twice.
      let unanswered = 0;
      for (let i = 0; i < results.length; i++) if (results[i] === undefined) unanswered++; // (holes: not .some())
      if (!signal.aborted && c.connected && unanswered > 0) {
        connError = `no PUBACK for ${o.ackTimeoutMs} ms: the bridge ended the connection and reconnects`;
        // At most a line a minute with the count: a broker that takes PUBLISHes and never answers
        // makes this at every send (ackTimeoutMs 10 s: 360 lines an hour, each send a connection).
        errorLog(
          'no PUBACK',
          { ackTimeoutMs: o.ackTimeoutMs, unacknowledged: unanswered },
          `upstream MQTT: no PUBACK for ${o.ackTimeoutMs} ms (ackTimeoutMs) on a connection still up: ending it and reconnecting, so that late PUBACKs cannot acknowledge newer PUBLISHes; the records are sent again`,
        );
        c.stream?.destroy();
      }
      // Those left without a PUBACK: TIMEOUT, CUT_OFF or DISCONNECTED (mqtt-publish.ts unansweredResult).
      if (unanswered > 0) {
        const end: SendEnd = { connected: c.connected, cutBeforeAck: cut && acked === 0, count: records.length, closeReason, clientId: bridgedId };
        for (let i = 0; i < results.length; i++) if (results[i] === undefined) results[i] = unansweredResult(end, topics[i]);
      }
      metrics.calls.inc({ kind: 'mqtt', target, ...sendOutcome(results) });
      return results;
    },
  };
}
