// `type: mqtt` source: subscribes to topics on another MQTT broker (commands from the cloud, a
// site broker's telemetry) and hands each message to the pipeline like any device's.
//
// The promise holds across the hop: a QoS 1 message is acknowledged to the remote broker (PUBACK)
// only once what the rules derived from it is committed, and PUBACKs go in the order the messages
// came (acks.ts). Up to ACK_WINDOW messages are in flight, so one commit takes many of them (the
// broker's own window, receive maximum / max_inflight, is usually the smaller bound); past it,
// reading waits: the backpressure on the socket. A refused message (the store is full or
// stopping) is not acknowledged, nor is anything after it: the connection is dropped and, after
// the backoff, the broker delivers them again in the same persistent session (clean: false,
// stable clientId); those committed behind the refused one come twice (at least once). QoS 0
// messages refused are dropped and counted (at most once is what QoS 0 promises).
//
// Every message carries the MQTT 5 user property `gatehouse-bridged: source:<name>` (a record
// attribute once stored), so the MQTT bridge destination never sends it back up: a subscription
// and a bridge covering the same topics cannot loop.
//
// The clientId may hold ${gatewayId} and ${installationId} (client-id.ts): a fleet flashed from one
// SD card image shares the config, and a fixed one put every board in one session, whose messages
// the broker split between them.
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { clocksOf, type Clocks } from '../../../../core/clock.js';
import { ERROR_CATALOGUE, errorMessage } from '../../../../core/errors.js';
import { INSTALLATION_ID_FILE, sourceClientId, type SourceClientId } from './identity.js';
import { refreshTlsFiles } from '../../../../core/tls-files.js';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { AckPipeline } from './acks.js';
import { mqttSourceMetrics, type MqttSourceMetrics } from './metrics.js';
import type { MqttSourceOptions } from './options.js';
import { TopicMapper, tooLargeMessage } from './topics.js';
import { remoteMessage } from './message.js';
import { SessionSubscriptions } from './subscriptions.js';
import { STABLE_MS, closedMessage, connectFix } from './diagnostics.js';
import { withoutCredentials } from '../../../../core/broker-url.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { SizeLimit } from '../../../../core/mqtt-size-guard.js';
import { sourceClientOptions } from './client-options.js';
import { logRoute, mqttRouteFor, type Route } from '../../../upstream/proxy.js';
import { mqttConnector, proxyErrorOf } from '../../../upstream/mqtt-tunnel.js';
import { expiredCertificateReason, heldTlsFiles } from '../../../upstream/cert-expired.js';

/** mqtt.js' own packet writer (MqttClient._sendPacket): what it sends its PUBACKs with. */
type SendPacket = (packet: { cmd: 'puback'; messageId: number; reasonCode: number }, cb: () => void) => void;

/** Given to handleMessage's callback: mqtt.js then sends no PUBACK of its own and reads on. */
const ACK_DEFERRED = new Error('PUBACK deferred until the message is committed');

/** Messages in flight (committing, or waiting for an earlier one's PUBACK) before reading waits. */
export const ACK_WINDOW = 256;

/** A repeated error (every reconnect of a long outage) is logged at most this often. */
const REPEAT_LOG_MS = 60_000;

type State = 'stopped' | 'connecting' | 'connected' | 'retrying';

/**
 * What a kind built on this one's connection adds (the sparkplug source: its will, its STATE
 * after subscribing and at stop). The messages it shapes itself, through the intake it starts this
 * source with.
 */
export interface MqttSourceHooks {
  /** The client's options before its first connect (a will). */
  clientOptions?(options: IClientOptions): IClientOptions;
  /** Each client made (once per start: it reconnects itself). */
  client?(c: MqttClient): void;
  /** The broker answered this connection's SUBSCRIBE. */
  subscribed?(c: MqttClient): void;
  /** At stop, while still connected, before the connection ends. */
  beforeEnd?(c: MqttClient): Promise<void>;
  /** A message dropped unread (over maxMessageBytes, a topic not taken): its topic and why. */
  notTaken?(topic: string, why: string, bytes: number): void;
}

interface Counts {
  received: number;
  acknowledged: number;
  refused: number;
  dropped: number;
}

export class MqttSubscribeSource implements Source {
  readonly kind = 'mqtt';
  readonly name: string;
  private client: MqttClient | undefined;
  private intake: Intake | undefined;
  private state: State = 'stopped';
  private stopping = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly counts: Counts = { received: 0, acknowledged: 0, refused: 0, dropped: 0 };
  private lastError: { at: string; message: string } | undefined;
  private lastMessageAt: string | undefined;
  /** Since when the source has had no connection (wall time, ISO): set at start and at a close, cleared at CONNACK. */
  private downSince: string | undefined;
  private lastTlsError: string | undefined;
  /**
   * Errors logged by kind, each kind at most once a minute (core/rate-log.ts), also when kinds
   * alternate (a refused message, then the closed connection) or the text varies (the store's
   * reason names its free bytes).
   */
  private readonly warn: RateLog;
  /** When 'connected' was last logged at info (monotonic ms): a connection that flaps logs once a minute. */
  private connectLoggedAt: number | undefined;
  /** This connection came within the minute of the last one logged: its lines go to debug. */
  private quietConnect = false;
  /** When the current connection's CONNACK came (monotonic ms). */
  private connectedAt: number | undefined;
  /** The reason code of the broker's DISCONNECT (MQTT 5) on the current connection. */
  private disconnectReason: number | undefined;
  /** The source itself drops the connection (a refused message): its close is not the broker's doing. */
  private dropping = false;
  /** The session's subscriptions: granted, refused, left by an earlier configuration (subscriptions.ts). */
  private readonly subscriptions: SessionSubscriptions;
  private readonly clocks: Clocks;
  private readonly metrics: MqttSourceMetrics;
  private readonly target: string;
  private readonly topics: TopicMapper;
  private readonly acks = new AckPipeline(ACK_WINDOW);
  private readonly size: SizeLimit;
  /** The client id the broker sees: the template filled (${installationId} once known, at start). */
  private readonly clientId: SourceClientId;
  /** Direct or through the site's proxy (upstream/proxy.ts, mqtt-tunnel.ts): check-config prints it, the first start logs it. */
  readonly route: Route;
  private routeLogged = false;

  constructor(
    private readonly o: MqttSourceOptions,
    private readonly deps: SourceDeps,
    private readonly hooks: MqttSourceHooks = {},
  ) {
    this.name = o.name;
    this.clocks = clocksOf(deps);
    this.warn = rateLimitedLog(deps.logger, 'warn', REPEAT_LOG_MS, this.clocks.monotonic);
    this.metrics = mqttSourceMetrics(deps.registry);
    this.target = withoutCredentials(o.url);
    this.topics = new TopicMapper(o.topics);
    this.size = new SizeLimit(o.maxMessageBytes, o.protocolVersion);
    this.clientId = sourceClientId(o, deps);
    this.route = mqttRouteFor(o.url, o.proxy, deps.network, `sources.${o.name}.proxy`);
    this.subscriptions = new SessionSubscriptions({
      o,
      name: this.name,
      target: this.target,
      logger: deps.logger,
      metrics: this.metrics,
      fail: (message, key) => this.fail(message, key),
      current: (c) => c === this.client,
      quiet: () => this.quietConnect,
      subscribed: (c) => this.hooks.subscribed?.(c),
    });
  }

  async start(intake: Intake): Promise<void> {
    if (this.client || this.reconnectTimer) return;
    this.intake = intake;
    this.stopping = false;
    this.attempts = 0;
    this.downSince = new Date(this.clocks.now()).toISOString();
    await this.identifyAndOpen(intake);
  }

  /**
   * Connect once the client id is filled: a clientId holding ${installationId} waits for it (read
   * at the gateway's start already); while it cannot be kept (a full disk), tried again after the backoff.
   */
  private async identifyAndOpen(intake: Intake): Promise<void> {
    let id: string | undefined;
    try {
      id = await this.clientId.resolve();
    } catch (err) {
      const why = `cannot keep the installation id (the clientId's \${installationId}) in ${INSTALLATION_ID_FILE} of the data dir: ${errorMessage(err)}`;
      this.fail(`${why}; tried again after the reconnect backoff`, 'installation-id');
    }
    if (this.stopping || this.client) return;
    if (id !== undefined) return this.open(intake, id);
    this.state = 'retrying';
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.identifyAndOpen(intake).catch((err: unknown) => this.fail(`${this.target}: ${errorMessage(err)}`));
    }, this.backoffDelay());
  }

  /** Connect as `clientId` and subscribe at each connection. */
  private async open(intake: Intake, clientId: string): Promise<void> {
    await this.subscriptions.load(intake, clientId);
    // mqtt.js loads when an MQTT source starts, not with every gateway; through the site's proxy when the route says so.
    const connect = await mqttConnector(
      this.o.url,
      this.route,
      `MQTT source ${this.name}`,
      "the source reconnects at its backoff; the broker keeps the session's messages meanwhile",
    );
    if (!this.routeLogged) logRoute(this.deps.logger.child({ source: this.name }), this.route);
    this.routeLogged = true;
    // Stopped (or started again) while this start waited: connect nothing nobody would end.
    if (this.stopping || this.client) return;
    const options = sourceClientOptions({ ...this.o, clientId });
    const c = connect(this.hooks.clientOptions ? this.hooks.clientOptions(options) : options);
    this.client = c;
    this.hooks.client?.(c);
    this.state = 'connecting';
    c.handleMessage = (packet, done) => this.onPublish(c, packet, done);
    c.on('connect', (connack) => {
      this.connectedAt = this.clocks.monotonic();
      this.downSince = undefined;
      this.state = 'connected';
      this.disconnectReason = undefined;
      this.dropping = false;
      this.metrics.connected.set({ source: this.name }, 1);
      const now = this.clocks.monotonic();
      this.quietConnect = this.connectLoggedAt !== undefined && now - this.connectLoggedAt < REPEAT_LOG_MS;
      if (!this.quietConnect) this.connectLoggedAt = now;
      this.deps.logger[this.quietConnect ? 'debug' : 'info']({ url: this.target, clientId, sessionPresent: connack.sessionPresent }, 'MQTT source connected');
      // Subscribed at every connection (and what an earlier configuration left, unsubscribed).
      this.subscriptions.connected(c, connack.sessionPresent);
    });
    // MQTT 5: the broker says why it closes (0x8E: another client took the session over).
    c.on('disconnect', (packet) => {
      this.disconnectReason = packet.reasonCode;
    });
    c.on('close', () => {
      // What this connection has not acknowledged yet, the broker delivers again.
      this.acks.reset();
      // The backoff starts over only after a connection that lasted: one dropped at once (a message
      // the store refuses again at each redelivery, a session taken over) backs off to reconnectMaxMs.
      if (this.connectedAt !== undefined && this.clocks.monotonic() - this.connectedAt >= STABLE_MS) this.attempts = 0;
      this.connectedAt = undefined;
      if (!this.stopping) this.downSince ??= new Date(this.clocks.now()).toISOString();
      if (this.state === 'connected' && !this.stopping && !this.dropping) this.fail(closedMessage(this.target, this.disconnectReason), 'closed');
      this.scheduleReconnect();
    });
    c.on('error', (err) => {
      // The proxy's faults (GH_UPSTREAM_PROXY) logged once a minute per kind, whatever their text.
      const proxied = proxyErrorOf(err);
      // A client certificate (or CA) past its date by this gateway's clock: said so, not a bare TLS alert or reset.
      const expired = proxied
        ? undefined
        : expiredCertificateReason(`MQTT source '${this.name}'`, heldTlsFiles(this.o, c.options), errorMessage(err), this.clocks.now());
      if (expired) this.fail(`${this.target}: GH_UPSTREAM_CERT_EXPIRED: ${expired}`, 'GH_UPSTREAM_CERT_EXPIRED', ERROR_CATALOGUE.GH_UPSTREAM_CERT_EXPIRED.hint);
      else
        this.fail(`${this.target}: ${errorMessage(err)}`, proxied ? `proxy ${String((proxied.details as { fault?: string } | undefined)?.fault)}` : undefined);
      // On a connection that is up, an error is a malformed packet (a socket error closes it anyway):
      // mqtt.js reads on from a broken stream, so drop it [MQTT-4.8.0-1]; the broker redelivers.
      if (c === this.client && c.connected) {
        this.dropping = true;
        c.stream?.destroy();
      }
    });
    this.size.attach(c); // connects (manualConnect), through the maxMessageBytes guard
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const c = this.client;
    this.client = undefined;
    this.state = 'stopped';
    this.downSince = undefined;
    this.acks.reset();
    if (c?.connected && this.hooks.beforeEnd) await this.hooks.beforeEnd(c).catch(() => undefined);
    // A message whose commit is still pending is not acknowledged: the broker redelivers it in
    // the next session (at least once). force: do not wait for the pending handleMessage.
    if (c) await c.endAsync(true).catch(() => undefined);
    this.metrics.connected.remove({ source: this.name });
    this.metrics.refusedSubscriptions.remove({ source: this.name });
  }

  /** Publish on the source's connection (a kind built on it: the sparkplug source's commands); refused while not connected. */
  publish(topic: string, payload: Buffer | string, options: IClientPublishOptions): Promise<void> {
    const c = this.client;
    if (!c?.connected) return Promise.reject(new Error(`not connected to ${this.target}`));
    return c.publishAsync(topic, payload, options).then(() => undefined);
  }

  status(): SourceStatus {
    return {
      kind: 'mqtt',
      name: this.name,
      state: this.state,
      details: {
        url: this.target,
        clientId: this.clientId.shown(),
        subscriptions: this.subscriptions.shown(),
        ...this.counts,
        lastMessageAt: this.lastMessageAt ?? null,
        downSince: this.downSince ?? null,
        lastError: this.lastError ?? null,
      },
    };
  }

  private onPublish(c: MqttClient, packet: IPublishPacket, callback: (err?: Error) => void): void {
    this.counts.received++;
    this.metrics.messages.inc({ source: this.name, result: 'received' });
    this.lastMessageAt = new Date(this.clocks.now()).toISOString();
    const large = this.size.tooLarge(packet);
    const mapped = large === undefined ? this.topics.map(String(packet.topic)) : tooLargeMessage(String(packet.topic), large, this.o.maxMessageBytes);
    let committed: Promise<void> | undefined;
    if ('notTaken' in mapped) {
      // Not for the rules; acknowledged all the same (in order, below): left unacknowledged, the
      // broker would deliver it again at every reconnect, forever.
      this.drop(mapped.why);
      this.fail(mapped.notTaken, mapped.why);
      this.hooks.notTaken?.(String(packet.topic), mapped.why, large ?? packet.payload.length);
    } else {
      try {
        committed = this.intake!.submit(remoteMessage(packet, mapped.topic, this.name, this.clientId.shown(), this.clocks.now()));
      } catch (err) {
        committed = Promise.reject(err);
      }
    }
    const taken = !('notTaken' in mapped);
    if (packet.qos === 0) {
      // At most once: nothing to acknowledge; a refused one is dropped and counted.
      return this.acks.unacknowledged(
        committed,
        () => {
          if (taken) this.committed();
        },
        (err) => {
          this.drop('qos0-refused');
          this.fail(`a QoS 0 message on ${String(packet.topic)} was refused and dropped: ${errorMessage(err)}`, 'qos0-refused');
        },
        () => callback(),
      );
    }
    const messageId = packet.messageId!;
    const sendPacket = (c as unknown as { _sendPacket?: SendPacket })._sendPacket;
    // mqtt.js sends the PUBACK when handleMessage's callback is called without an error, and reads
    // nothing more until then: one message per commit. Called with an error, it skips its PUBACK
    // and reads on; the PUBACK is then sent here, through the client's own packet writer, once
    // committed (acks.ts keeps the order). Without that writer (another mqtt.js), one at a time.
    // A QoS 2 message (a broker that ignores the QoS it granted) comes at its PUBREL: the callback
    // sends its PUBCOMP, after the commit, one message at a time.
    const deferred = packet.qos === 1 && typeof sendPacket === 'function';
    this.acks.acknowledged(
      committed,
      () => {
        if (taken) this.committed();
        if (!deferred) return callback();
        if (c === this.client && c.connected) sendPacket.call(c, { cmd: 'puback', messageId, reasonCode: 0 }, () => undefined);
      },
      (err) => {
        // Not acknowledged, nor anything after it: drop the connection, so the broker delivers
        // them again after the backoff.
        this.counts.refused++;
        this.metrics.messages.inc({ source: this.name, result: 'refused' });
        this.fail(`a message on ${String(packet.topic)} was refused (${errorMessage(err)}); reconnecting so the broker redelivers it`, 'refused');
        if (c === this.client) {
          this.dropping = true;
          c.stream?.destroy();
        }
      },
      deferred ? () => callback(ACK_DEFERRED) : () => undefined,
    );
  }

  /** Not taken into the rules (a refused QoS 0 message, a topic the source does not take). */
  private drop(reason: string): void {
    this.counts.dropped++;
    this.metrics.messages.inc({ source: this.name, result: 'dropped' });
    this.metrics.dropped.inc({ source: this.name, reason });
  }

  /** Committed (and, for QoS 1, its PUBACK sent). */
  private committed(): void {
    this.counts.acknowledged++;
    this.metrics.messages.inc({ source: this.name, result: 'acknowledged' });
  }

  private scheduleReconnect(): void {
    const c = this.client;
    if (this.stopping || this.reconnectTimer || !c) return;
    this.state = 'retrying';
    this.metrics.connected.set({ source: this.name }, 0);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping || c !== this.client || c.connected) return;
      this.refreshTls(c);
      this.state = 'connecting';
      this.metrics.reconnects.inc({ source: this.name });
      c.reconnect();
    }, this.backoffDelay());
  }

  /** Exponential backoff with full jitter, capped (as the MQTT bridge destination); reset by a connection that lasted STABLE_MS. */
  private backoffDelay(): number {
    const cap = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(this.attempts, 20));
    this.attempts++;
    return Math.max(50, Math.floor(Math.random() * cap));
  }

  /** Read the TLS files again before a reconnect: a renewed client certificate is presented (core/tls-files.ts). */
  private refreshTls(c: MqttClient): void {
    const o = this.o;
    if (o.caFile === undefined && o.certFile === undefined && o.keyFile === undefined) return;
    const r = refreshTlsFiles(c.options, { ca: o.caFile, cert: o.certFile, key: o.keyFile });
    if (r.changed) this.deps.logger.info({ certFile: o.certFile, caFile: o.caFile }, 'MQTT source: TLS files changed on disk; the reconnect uses them');
    if ('error' in r && r.error !== this.lastTlsError) this.deps.logger.warn({ err: r.error, certFile: o.certFile }, 'MQTT source: TLS files not reloaded');
    this.lastTlsError = 'error' in r ? r.error : undefined;
  }

  /**
   * Keep and count an error; log it when it is new, or once a minute while it repeats (a broker
   * down for hours fails every reconnect: one line per backoff would fill the journal). `key`:
   * what makes two errors the same (default: the message; one per kind for per-message errors
   * that name their topic, so a stream of them logs once a minute too).
   */
  private fail(message: string, key = message, known?: string): void {
    const fix = known ?? connectFix(message, this.state !== 'connected');
    this.lastError = { at: new Date(this.clocks.now()).toISOString(), message: fix ? `${message}. Fix: ${fix}` : message };
    this.metrics.errors.inc({ source: this.name });
    this.warn(key, { err: message, ...(fix ? { fix } : {}) }, 'MQTT source');
  }
}
