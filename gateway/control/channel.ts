// The control channel: where control topics are subscribed and status/heartbeats published.
// Either the local broker (default) or a dedicated mqtt.js connection to an upstream broker
// (persistent session, QoS 1, reconnect with doubling backoff), so updates published while the
// gateway was offline are delivered when it reconnects. Its client id may hold ${gatewayId} and
// ${installationId} (as the MQTT bridge's and the MQTT source's: upstream/client-id.ts): boards
// flashed from one SD card image share the config, and gatehouse-control-${installationId} gives
// each a session of its own (docs/remote-control.md, "A fleet from one image").
import { readClientTlsFiles, refreshTlsFiles, type ClientTlsContext } from '../../core/tls-files.js';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS, GatehouseError, errorMessage } from '../../core/errors.js';
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

/** control.upstream.clientId's default. */
const DEFAULT_CLIENT_ID = 'gatehouse-control-${gatewayId}';

/** Where the control broker's TLS files sit in the configuration, for readClientTlsFiles. */
const CONTROL_UPSTREAM_TLS: ClientTlsContext = {
  where: { ca: 'control.upstream.ca', cert: 'control.upstream.cert', key: 'control.upstream.key' },
  subject: 'control broker',
  code: 'GH_CONFIG_INVALID',
};

/** A close this soon after the CONNACK, with a publish unacknowledged, looks like a refused publish. */
const REFUSAL_CLOSE_MS = 2000;

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

export type ControlHandler = (topic: string, payload: Buffer) => void;

export interface ControlChannel {
  /** 'local' or the upstream URL (for logs and status). */
  readonly kind: string;
  /** False while an upstream connection is down (heartbeats are skipped then, not queued). */
  connected(): boolean;
  /** Control topics the broker refused to subscribe us to at the last (re)connect (its ACL): none arrive. */
  refusedTopics(): readonly string[];
  /** Connect (upstream). A stop() while it runs wins: it then resolves without connecting. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Subscribe (QoS 1 upstream) to one exact topic; the handler gets every message on it. */
  subscribe(topic: string, handler: ControlHandler): void;
  /**
   * Publish; resolves when handed to the broker (upstream: PUBACK for QoS 1). `ingest` (local
   * channel only): also hand the message to the rules, so an archive rule and the MQTT bridge
   * exporter carry it upstream (heartbeats), as if a client had published it.
   */
  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1; retain: boolean; ingest?: boolean }): Promise<void>;
  /**
   * Called after each reconnect (upstream; never on the local broker): the broker may have lost
   * what the gateway published retained before (restarted without persistence, a fail-over node).
   */
  onReconnect(listener: () => void): void;
  /** Upstream: messages over maxPayloadBytes, skipped unread (too-large), as the local broker's onPublishRefused. */
  onRefused?(listener: (r: PublishRefusal) => void): void;
}

export interface LocalBrokerPort {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): () => void;
  /** Publish to local subscribers. */
  publish(packet: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): Promise<void>;
  /** Hand a message to the rules (durable once resolved), or undefined when no rule takes it. */
  ingest(packet: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): Promise<void> | undefined;
  /** Publishes the broker refused before delivery (control payloads over broker.maxPayloadBytes get a status). */
  onPublishRefused?(listener: (r: PublishRefusal) => void): () => void;
}

/** A client publish the local broker refused before delivery (the broker's PublishRefusal, structurally). */
export interface PublishRefusal {
  topic: string;
  reason: 'too-large' | 'denied';
  bytes: number;
  client: string;
  /** too-large: the limit it exceeded (broker.maxPayloadBytes). */
  maxPayloadBytes?: number;
}

export function localChannel(broker: LocalBrokerPort): ControlChannel {
  const unsubs: Array<() => void> = [];
  return {
    kind: 'local',
    connected: () => true,
    refusedTopics: () => [],
    onReconnect() {},
    async start() {},
    async stop() {
      for (const u of unsubs.splice(0)) u();
    },
    subscribe(topic, handler) {
      unsubs.push(broker.subscribe(topic, handler));
    },
    publish(topic, payload, opts) {
      const packet = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts.qos, retain: opts.retain };
      const done = broker.publish(packet);
      const durable = opts.ingest ? broker.ingest(packet) : undefined;
      return durable === undefined ? done : Promise.all([done, durable]).then(() => undefined);
    },
  };
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
        h(topic, payload);
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
                hint: `allow this client (${opts.username ?? 'no user name'}, client id ${clientOptions.clientId}) to subscribe to these topics in the control broker's ACL or policy; the gateway subscribes again at each reconnect`,
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
      // A broker that disconnects a client for a publish its ACL or policy refuses (AWS IoT,
      // Gatehouse's broker) closed the connection at each reconnect while the queued status went
      // out, and mqtt.js subscribes only once what it queued is acknowledged: no update arrived,
      // and the log said only 'offline'. Two such closes in a row on one topic are named, once.
      let connackAt: number | undefined;
      let inFlight: string | undefined;
      let suspect: { topic: string; closes: number } | undefined;
      c.on('packetreceive', (p) => {
        if (p.cmd === 'connack') connackAt = Date.now();
        if (p.cmd === 'connack' || p.cmd === 'puback') inFlight = undefined;
      });
      c.on('packetsend', (p) => {
        if (p.cmd === 'publish' && p.qos > 0) inFlight = p.topic;
      });
      c.on('connect', () => {
        if (suspect && suspect.closes >= 2) log.info({ url: shown, topic: suspect.topic }, 'control channel: the broker took the publish it refused before');
        suspect = undefined;
      });
      c.on('close', () => {
        const refusedAt = connackAt !== undefined && Date.now() - connackAt < REFUSAL_CLOSE_MS ? inFlight : undefined;
        connackAt = undefined;
        inFlight = undefined;
        if (refusedAt === undefined) suspect = undefined;
        else {
          suspect = { topic: refusedAt, closes: suspect?.topic === refusedAt ? suspect.closes + 1 : 1 };
          if (suspect.closes === 2) {
            log.error(
              {
                url: shown,
                topic: refusedAt,
                hint: `allow this client (${opts.username ?? 'no user name'}, client id ${clientOptions.clientId}) to publish on ${refusedAt} (and the heartbeat topic) in the control broker's ACL or policy`,
              },
              'control channel: the broker closes the connection right after the gateway publishes there (twice in a row): its ACL or policy probably refuses it; the gateway subscribes to the control topics once that publish is acknowledged, so updates from the office do not arrive',
            );
          }
        }
      });
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
        if (upMs !== undefined && upMs < STABLE_MS && suspect === undefined && ++quickCloses >= QUICK_CLOSES_NAMED) {
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
        else errorLog(why, { err: why, url: shown, hint: controlErrorHint(why) }, 'control channel error');
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
