// The control channel: where control topics are subscribed and status/heartbeats published.
// Either the local broker (default) or a dedicated mqtt.js connection to an upstream broker
// (persistent session, QoS 1, reconnect with doubling backoff), so updates published while the
// gateway was offline are delivered when it reconnects. Its client id may hold ${gatewayId} and
// ${installationId} (as the MQTT bridge's and the MQTT source's: upstream/client-id.ts): boards
// flashed from one SD card image share the config, and gatehouse-control-${installationId} gives
// each a session of its own (docs/remote-control.md, "A fleet from one image"). The channel's
// interface and the local channel: local-channel.ts.
import { readClientTlsFiles, refreshTlsFiles, type ClientTlsContext } from '../../core/tls-files.js';
import { expiredCertificateReason, heldTlsFiles } from '../upstream/cert-expired.js';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS, ERROR_CATALOGUE, GatehouseError, errorMessage } from '../../core/errors.js';
import type { ControlUpstreamOptions } from './options.js';
import { withoutCredentials } from '../../core/broker-url.js';
import { SizeLimit, withSizeLimit } from '../../core/mqtt-size-guard.js';
import { rateLimitedLog } from '../../core/rate-log.js';
import { clocksOf } from '../../core/clock.js';
import { STABLE_MS, connectRefusal } from '../../core/mqtt-client-hints.js';
import { certificateNotVerified } from '../../core/tls-files.js';
import { compileClientIdTemplate } from '../../core/client-id-template.js';
import { templatedClientId } from '../upstream/client-id.js';
import { INSTALLATION_ID_FILE } from '../upstream/installation-id.js';
import { logRoute, mqttRouteFor, type ProxySettings } from '../upstream/proxy.js';
import { mqttConnector, proxyErrorOf } from '../upstream/mqtt-tunnel.js';
import type { ControlChannel, ControlHandler, PublishRefusal } from './local-channel.js';
import { watchRefusedPublish } from './refused-publish.js';

export { localChannel, type ControlChannel, type ControlHandler, type LocalBrokerPort, type PublishRefusal } from './local-channel.js';

/** control.upstream.clientId's default. */
const DEFAULT_CLIENT_ID = 'gatehouse-control-${gatewayId}';

/** Where the control broker's TLS files sit in the configuration, for readClientTlsFiles. */
const CONTROL_UPSTREAM_TLS: ClientTlsContext = {
  where: { ca: 'control.upstream.ca', cert: 'control.upstream.cert', key: 'control.upstream.key' },
  subject: 'control broker',
  code: 'GH_CONFIG_INVALID',
};

/**
 * Connections closed within STABLE_MS of their CONNACK, this many in a row (none a refused publish),
 * are named: most often another client with this client id takes the session over (two gateways with
 * one gatewayId: a cloned SD card keeps the host name), and each reconnect takes it back.
 */
const QUICK_CLOSES_NAMED = 3;
/** That line at most once an hour (with the count since): a fight backed off to reconnectMaxMs may flare again. */
const QUICK_CLOSES_LOG_EVERY_MS = 3_600_000;

/** How long a stop waits for the control broker to acknowledge what was published before it. */
const STOP_GRACE_MS = 2000;

/**
 * The client's error, one line a minute per error with the count since (`suppressed`), as the
 * MQTT bridge's: while the control broker is down, each reconnect failed with a line of its own
 * (once a minute only at the default reconnectMaxMs; 720 an hour at reconnectMaxMs 5000).
 */
const ERROR_LOG_EVERY_MS = 60_000;

/** What to check for the control client's error `why`, naming the control.upstream option. */
export function controlErrorHint(why: string): string {
  const tail = '; the gateway keeps reconnecting (reconnectMinMs doubling up to reconnectMaxMs)';
  const refused = connectRefusal(why);
  if (refused === 'credentials')
    return `the control broker refused the login: check control.upstream.username and password (or cert and key) and the broker's ACL${tail}`;
  if (refused === 'clientId') return `the control broker refused the client id: check control.upstream.clientId${tail}`;
  if (certificateNotVerified(why))
    return `the control broker's certificate does not verify: set control.upstream.ca to the PEM of the CA that signed it, else check its certificate (expired, another name than control.upstream.url's host)${tail}`;
  if (/ENOTFOUND|EAI_AGAIN/.test(why)) return `the host name does not resolve: check control.upstream.url and the gateway's DNS${tail}`;
  return `check control.upstream.url (scheme, host, port) and that the control broker runs there and is reachable${tail}`;
}

export interface UpstreamChannelDeps extends RuntimeDeps {
  gatewayId: string;
  /**
   * control.maxPayloadBytes, held to while reading (core/mqtt-size-guard.ts): a bigger message is
   * skipped as it arrives and reported through onRefused, not read whole into memory first.
   */
  maxPayloadBytes?: number;
  /** Fills a clientId's ${installationId} (the gateway's: upstream/installation-id.ts); absent: the one kept in dataDir. */
  installationId?: (() => Promise<string>) | undefined;
  dataDir?: string | undefined;
  /** The config's network.proxy and the environment: the channel's way to its broker (upstream/proxy.ts). */
  network?: ProxySettings | undefined;
}

export function upstreamChannel(opts: ControlUpstreamOptions, deps: UpstreamChannelDeps): ControlChannel {
  const log = deps.logger;
  // on the monotonic clock: a wall clock stepped back would mute it for the size of the step
  const monotonic = clocksOf(deps).monotonic;
  const errorLog = rateLimitedLog(log, 'warn', ERROR_LOG_EVERY_MS, monotonic);
  const quickCloseLog = rateLimitedLog(log, 'warn', QUICK_CLOSES_LOG_EVERY_MS, monotonic);
  // Lines that come per reconnect or per message, each at most once a minute with the count since:
  // 'offline' came at every failed reconnect (720 an hour at reconnectMaxMs 5000), the refused
  // subscription at every reconnect, a handler's throw at every message.
  const offlineLog = rateLimitedLog(log, 'warn', ERROR_LOG_EVERY_MS, monotonic);
  const faultLog = rateLimitedLog(log, 'error', ERROR_LOG_EVERY_MS, monotonic);
  // What the channel is called in logs and statuses: the retained status topic is read by anyone
  // subscribed on the control broker, so a password written into the URL stays out of it.
  const shown = withoutCredentials(opts.url);
  const handlers = new Map<string, ControlHandler[]>();
  const reconnectListeners: Array<() => void> = [];
  let connectedBefore = false;
  let refused: string[] = [];
  let client: MqttClient | undefined;
  // Counted: a start sees a stop that came while it loaded mqtt.js (it then connects nothing).
  let stops = 0;
  let delay = opts.reconnectMinMs;
  /** When the connection up now got its CONNACK (monotonic ms); undefined while down. */
  let upSince: number | undefined;
  /** Connections closed soon after their CONNACK, in a row. */
  let quickCloses = 0;
  const refusedListeners: Array<(r: PublishRefusal) => void> = [];
  const size = deps.maxPayloadBytes === undefined ? undefined : new SizeLimit(deps.maxPayloadBytes, 4);
  const idParts = compileClientIdTemplate(opts.clientId ?? DEFAULT_CLIENT_ID);
  // The schema checked it (options.ts): only a caller that skipped the schema gets here.
  if ('problem' in idParts)
    throw new GatehouseError('GH_CONFIG_INVALID', `control.upstream.clientId: ${idParts.problem}`, { where: 'control.upstream.clientId' });
  const clientId = templatedClientId(idParts, { gatewayId: deps.gatewayId, installationId: deps.installationId, dataDir: deps.dataDir });
  // Direct or through the site's proxy (an HTTP CONNECT tunnel: upstream/mqtt-tunnel.ts); a proxy URL that is none throws here (a config error).
  const route = mqttRouteFor(opts.url, opts.proxy, deps.network, 'control.upstream.proxy');
  /** The wait before the next try to read the installation id (a full disk at start), while it cannot be kept. */
  let idRetry: NodeJS.Timeout | undefined;

  const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    const cut = size?.cut(packet);
    if (cut !== undefined) {
      for (const l of refusedListeners) l({ topic, reason: 'too-large', bytes: cut, client: '' });
      return;
    }
    for (const h of handlers.get(topic) ?? []) {
      try {
        h(topic, payload, packet.retain === true);
      } catch (err) {
        faultLog(`handler ${topic}`, { err: errorMessage(err), topic }, 'control handler threw');
      }
    }
  };

  /**
   * A clientId holding ${installationId} waits for it (read at the gateway's start already); while it
   * cannot be kept (a full disk), tried again after the reconnect delay. Publishes meanwhile are
   * queued by mqtt.js, as while offline.
   */
  const fillAndConnect = async (c: MqttClient, go: (id: string) => void): Promise<void> => {
    let id: string | undefined;
    try {
      id = await clientId.resolve();
    } catch (err) {
      const why = `cannot keep the installation id (control.upstream.clientId's \${installationId}) in ${INSTALLATION_ID_FILE} of the data dir: ${errorMessage(err)}`;
      errorLog(
        'installation-id',
        { err: why, url: shown, retryInMs: delay, hint: "free space on the data directory's filesystem; the gateway tries again" },
        'control channel error',
      );
    }
    if (client !== c) return; // stopped meanwhile
    if (id !== undefined) return go(id);
    idRetry = setTimeout(() => {
      idRetry = undefined;
      void fillAndConnect(c, go);
    }, delay);
    delay = Math.min(opts.reconnectMaxMs, delay * 2);
  };

  return {
    kind: shown,
    connected: () => client?.connected === true,
    refusedTopics: () => refused,
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    onRefused(listener) {
      refusedListeners.push(listener);
    },
    async start() {
      const stopsBefore = stops;
      const clientOptions: IClientOptions = {
        // Filled before the connect (below) when it waits for the installation id.
        clientId: clientId.shown(),
        clean: false,
        // Connected below, once the client id is known (and through the size guard, if any).
        manualConnect: true,
        protocolVersion: 4,
        keepalive: opts.keepaliveSeconds,
        reconnectPeriod: opts.reconnectMinMs,
        connectTimeout: 10_000,
        rejectUnauthorized: opts.rejectUnauthorized,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
      };
      /** The client as the ACL hints name it (its client id is known once connecting). */
      const who = (): string => `${opts.username ?? 'no user name'}, client id ${clientOptions.clientId}`;
      // Read and checked (a bad path or pair is a config error naming the key), again before each reconnect.
      const { ca, cert, key } = readClientTlsFiles({ ca: opts.ca, cert: opts.cert, key: opts.key }, CONTROL_UPSTREAM_TLS);
      if (ca) clientOptions.ca = ca;
      if (cert) clientOptions.cert = cert;
      if (key) clientOptions.key = key;
      // mqtt.js loads when the control channel starts (control enabled), not with every gateway.
      const connect = await mqttConnector(
        opts.url,
        route,
        'control channel',
        'the channel reconnects at its backoff; updates wait in its session on the broker',
      );
      logRoute(log, route);
      // Stopped while mqtt.js loaded: the stop found no client. Connected now, the client stayed
      // connected (and reconnecting) after the stop returned.
      if (stops !== stopsBefore) return;
      const c = connect(size && deps.maxPayloadBytes !== undefined ? withSizeLimit(clientOptions, deps.maxPayloadBytes) : clientOptions);
      client = c;
      c.on('message', onMessage);
      c.on('connect', (connack) => {
        upSince = monotonic();
        log.info({ url: shown, clientId: clientOptions.clientId, sessionPresent: connack.sessionPresent }, 'control channel connected');
        // Re-subscribe even with a session present: cheap, and covers a broker that lost it.
        const topics = [...handlers.keys()];
        if (topics.length) {
          c.subscribe(topics, { qos: 1 }, (err) => {
            if (!err) {
              if (refused.length) log.info({ url: shown, topics }, 'control channel: the broker took the subscription to the control topics');
              refused = [];
              return;
            }
            // A SUBACK refusal (0x80: the broker's ACL or policy): the connection is up and
            // heartbeats go out, but no update from the office ever arrives. Said, with the fix,
            // and gatehouse_control_channel_connected shows 0.
            refused = topics;
            faultLog(
              'suback',
              {
                err: errorMessage(err),
                url: shown,
                topics,
                hint: `allow this client (${who()}) to subscribe to these topics in the control broker's ACL or policy; the gateway subscribes again at each reconnect`,
              },
              'control channel: the broker refused the subscription to the control topics: updates and rollbacks from the office do not arrive',
            );
          });
        }
        if (connectedBefore) {
          for (const l of reconnectListeners) {
            try {
              l();
            } catch (err) {
              faultLog('reconnect listener', { err: errorMessage(err) }, 'control channel reconnect listener threw');
            }
          }
        }
        connectedBefore = true;
      });
      // A close for a publish the broker refuses, named (refused-publish.ts): before the close below, which reads it.
      const refusals = watchRefusedPublish(c, log, shown, who);
      let lastTlsError: string | undefined;
      c.on('close', () => {
        // The backoff starts over only after a connection that lasted (STABLE_MS, as the MQTT
        // bridge's): one the broker closes soon after its CONNACK doubles the delay like a failed
        // attempt. Reset at each connect, two gateways with one client id took the session from
        // each other every 2 x reconnectMinMs for as long as both ran, two log lines each time.
        const upMs = upSince === undefined ? undefined : monotonic() - upSince;
        upSince = undefined;
        if (upMs !== undefined && upMs >= STABLE_MS) {
          delay = opts.reconnectMinMs;
          quickCloses = 0;
        } else delay = Math.min(opts.reconnectMaxMs, delay * 2);
        // (mqtt.js reads reconnectPeriod when it schedules the reconnect.)
        c.options.reconnectPeriod = delay;
        if (upMs !== undefined && upMs < STABLE_MS && !refusals.suspected() && ++quickCloses >= QUICK_CLOSES_NAMED) {
          quickCloseLog(
            'quick-closes',
            {
              url: shown,
              clientId: clientOptions.clientId,
              closes: quickCloses,
              retryInMs: delay,
              hint: `give each gateway its own gatewayId (this one is ${deps.gatewayId}: a cloned SD card keeps the host name it defaults to), or its own control.upstream.clientId (gatehouse-control-\${installationId}); else look in the control broker's log for why it closes the connection`,
            },
            `control channel: the broker closes the connection soon after each connect (${quickCloses} in a row): another client with this client id (${clientOptions.clientId}) probably takes the session over at each reconnect; reconnects back off (reconnectMinMs doubling up to reconnectMaxMs)`,
          );
        }
        // The reconnect takes its TLS options from c.options: a client certificate renewed on
        // disk is presented at the next handshake (core/tls-files.ts).
        if (opts.ca === undefined && opts.cert === undefined && opts.key === undefined) return;
        const r = refreshTlsFiles(c.options, { ca: opts.ca, cert: opts.cert, key: opts.key });
        if (r.changed) log.info({ url: shown, cert: opts.cert }, 'control channel: TLS files changed on disk; the reconnect uses them');
        if ('error' in r && r.error !== lastTlsError) log.warn({ url: shown, err: r.error }, 'control channel: TLS files not reloaded');
        lastTlsError = 'error' in r ? r.error : undefined;
      });
      // The first failure at once, with its reason and what to check; then once a minute per error.
      c.on('error', (err) => {
        const why = errorMessage(err);
        // The proxy's faults (GH_UPSTREAM_PROXY, with their own hint) once a minute per kind, whatever their text.
        const proxied = proxyErrorOf(err);
        if (proxied)
          errorLog(
            `proxy ${String((proxied.details as { fault?: string } | undefined)?.fault)}`,
            { err: why, url: shown, code: proxied.code },
            'control channel error',
          );
        else {
          // A client certificate (or CA) past its date by this gateway's clock: the line names it (not a bare TLS alert or reset).
          const expired = expiredCertificateReason('control channel', heldTlsFiles({ caFile: opts.ca, certFile: opts.cert }, c.options), why, Date.now());
          const hint = expired ? `${expired}; ${ERROR_CATALOGUE.GH_UPSTREAM_CERT_EXPIRED.hint}` : controlErrorHint(why);
          errorLog(why, { err: why, url: shown, hint, ...(expired ? { code: 'GH_UPSTREAM_CERT_EXPIRED' } : {}) }, 'control channel error');
        }
      });
      c.on('offline', () => offlineLog('offline', { url: shown, retryInMs: delay }, 'control channel offline'));
      // Connects (manualConnect) through the guard of maxPayloadBytes, as the client id it has then.
      const go = (id: string): void => {
        clientOptions.clientId = id;
        c.options.clientId = id;
        if (size) size.attach(c);
        else c.connect();
      };
      const known = clientId.known();
      if (known !== undefined) go(known);
      else void fillAndConnect(c, go);
    },
    async stop() {
      stops++;
      clearTimeout(idRetry);
      idRetry = undefined;
      const c = client;
      client = undefined;
      if (!c) return;
      // A clean end waits for the PUBACK of every queued QoS 1 publish: with the broker down (a
      // status queued offline) it never came, and the gateway's shutdown hung. Offline, or when the
      // broker does not answer in time, the queue is dropped: the next start publishes the status.
      if (c.connected) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
        const ended = await Promise.race([c.endAsync(false).then(() => 'ended' as const), late]).catch(() => 'late' as const);
        clearTimeout(timer);
        if (ended === 'ended') return;
        log.warn({ url: shown, graceMs: STOP_GRACE_MS }, 'control channel: publishes still unacknowledged at stop: dropped');
        // mqtt.js ignores an end() while a first one waits (for the PUBACKs, or for the broker to
        // close): a forced end here was a no-op, and the connection stayed open, its handlers and
        // keepalive live, until the broker's keepalive ended it. Its socket is closed instead.
        c.stream?.destroy();
        return;
      }
      await c.endAsync(true).catch(() => undefined);
    },
    subscribe(topic, handler) {
      const list = handlers.get(topic);
      if (list) list.push(handler);
      else handlers.set(topic, [handler]);
      if (client?.connected) client.subscribe(topic, { qos: 1 });
    },
    async publish(topic, payload, o) {
      if (!client) throw ERRORS.GH_CONTROL_CHANNEL({ reason: 'control channel is not started' }, { where: shown });
      // Offline: mqtt.js queues it and sends it after reconnecting (queueQoSZero default true).
      await client.publishAsync(topic, payload, { qos: o.qos, retain: o.retain });
    },
  };
}
