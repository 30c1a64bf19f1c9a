// The OPC UA source: a supervisor loop that opens a session, creates every subscription and its
// monitored items, and turns each data change into a message {value, sourceTimestamp,
// serverTimestamp, statusCode}. Any sign of a dead link (connection lost, session closed,
// subscription terminated, or no keepalive for 3 keepalive periods) tears the client down and
// rebuilds client, session and every subscription from scratch after a backoff, so a subscription
// can never silently stop; the outage is reported as a gap (status, warning log, counters).
// What each data change becomes (the message, its bounds, the per-tag status) is readings.ts.
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { errorMessage } from '../../../../core/errors.js';
import { clocksOf } from '../../../../core/clock.js';
import { backoffMs, industrialMetrics, type IndustrialMetrics } from '../industrial-metrics.js';
import {
  bounded,
  certificateManager,
  closeQuietly,
  openSession,
  untilAborted,
  type CertificateManager,
  type ConnectOptions,
  type OpcuaClient,
  type OpcuaModule,
  type OpcuaSession,
} from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';
import { OpcuaCommands } from './commands.js';
import { itemsByParameters, resolvableItems } from './values.js';
import { OpcuaReadings, type OpcuaCounts } from './readings.js';

const KIND = 'opcua';

/**
 * One session's life: its events end only that session. A torn-down session can still speak: its
 * close, given up on by the bounded teardown, completes when the teardown destroys its connection
 * (closeQuietly; before, when its connection ended or node-opcua's 15 s transaction timeout
 * fired), and then emits session_closed. Routed to whatever session is current, that event ended
 * the restored session and reported a second, spurious gap of about a second; bound to its own
 * life, it is ignored (logged at debug).
 */
interface SessionLife {
  /** False once the session this life belongs to has been lost or torn down. */
  current(): boolean;
  /** End this session (no-op once it is no longer current). */
  lose(why: string): void;
  /** A sign of life (data or keepalive) of this session, for the watchdog and the gap start. */
  activity(): void;
}

export class OpcuaSource implements Source {
  readonly kind = KIND;
  readonly name: string;
  /** Wall time: receivedAt, lastGoodRead, the gap's from/to shown in the status. */
  private readonly now: () => number;
  /** Monotonic time: the watchdog, gap lengths, rates (a wall clock step must not fake a gap or hide one). */
  private readonly mono: () => number;
  private readonly metrics: IndustrialMetrics;
  /** Each data change -> a message, and the per-tag status. */
  private readonly readings: OpcuaReadings;
  private readonly commands: OpcuaCommands;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private lost: ((reason: string) => void) | null = null;
  private client: OpcuaClient | undefined;
  private session: OpcuaSession | undefined;
  private pki: CertificateManager | undefined;
  private state = 'stopped';
  private attempts = 0;
  private everConnected = false;
  /** Monotonic ms the connection was lost. */
  private lostAt: number | undefined;
  private lastError: string | undefined;
  /** Wall time (epoch ms) of lastError, for the status page. */
  private lastErrorAt: number | undefined;
  private lastGap: { from: string; to: string; ms: number } | undefined;
  /** Monotonic ms of the last data or keepalive. */
  private lastActivity = 0;
  private readonly counts: OpcuaCounts = { values: 0, reconnects: 0, gaps: 0, badStatus: 0, uncertainStatus: 0, commitErrors: 0, dropped: 0 };

  constructor(
    private readonly opts: OpcuaOptions,
    private readonly ua: OpcuaModule,
    private readonly certs: typeof import('node-opcua-certificate-manager'),
    private readonly connect: ConnectOptions,
    private readonly deps: SourceDeps,
  ) {
    this.name = opts.name;
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.metrics = industrialMetrics(deps.registry);
    this.readings = new OpcuaReadings(this.name, opts, ua, deps, this.metrics, this.counts, this.now, this.mono);
    this.commands = new OpcuaCommands(opts, ua, deps, this.metrics, () => this.session);
  }

  async start(intake: Intake): Promise<void> {
    if (this.loop) return;
    this.readings.intake = intake;
    this.stopping = false;
    this.state = 'connecting';
    this.commands.start();
    this.loop = this.run().catch((err: unknown) => {
      this.deps.logger.error({ err }, 'opcua source loop failed');
      this.setError(errorMessage(err));
      this.state = 'failed';
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.commands.stop();
    this.lost?.('stopping');
    this.wake?.();
    await this.loop;
    this.loop = null;
    const pki = this.pki;
    this.pki = undefined;
    await pki?.dispose().catch(() => undefined);
    this.metrics.connected.set({ kind: KIND, source: this.name }, 0);
    this.state = 'stopped';
  }

  status(): SourceStatus {
    const tagErrors = this.readings.tagErrors();
    return {
      kind: KIND,
      name: this.name,
      state: this.state,
      details: {
        endpoint: this.opts.endpoint,
        securityMode: this.opts.securityMode,
        connected: this.session !== undefined,
        lastError: this.lastError ?? null,
        lastErrorAt: this.lastErrorAt === undefined ? null : new Date(this.lastErrorAt).toISOString(),
        lastGoodRead: this.readings.lastGoodReadIso(),
        lastGap: this.lastGap ?? null,
        valuesPerSecond: this.readings.valuesPerSecond(),
        inFlight: this.readings.inFlightCount(),
        items: this.readings.itemCount(),
        ...this.counts,
        writes: this.commands.counts(),
        tagErrors,
      },
    };
  }

  private setError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = this.now();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let reason: string;
      try {
        reason = await this.session_();
        this.attempts = 0;
      } catch (err) {
        reason = errorMessage(err);
        // Given up on by the stop (a connect still pending): no connect failure.
        if (this.stopping) break;
        this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: '*', error: 'connection' });
        if (this.attempts === 0 || this.attempts % 10 === 0)
          this.deps.logger.warn({ endpoint: this.opts.endpoint, err: reason, attempt: this.attempts + 1 }, 'opcua connect failed, retrying with backoff');
      }
      await this.teardown();
      if (this.stopping) break;
      this.setError(reason);
      this.lostAt ??= this.mono();
      this.state = 'retrying';
      await this.sleep(backoffMs(this.attempts++, this.opts.backoff.initialMs, this.opts.backoff.maxMs));
    }
    await this.teardown();
  }

  /** One session's life: resolves with the reason it ended. */
  private async session_(): Promise<string> {
    this.state = this.everConnected ? 'retrying' : 'connecting';
    // Ended (a stop, a lost session): what is still pending of the connect, the session's
    // creation or the subscriptions' is given up on at once, not awaited (a hung server holds
    // each up to connectTimeoutMs or node-opcua's transaction timeout); teardown() closes it.
    const ended = new AbortController();
    let end: (reason: string) => void = () => undefined;
    const lost = new Promise<string>((resolve) => {
      end = (why) => {
        ended.abort(why);
        resolve(why);
      };
    });
    // stop() and teardown() reach this life through this.lost; it is current while it is there.
    this.lost = end;
    const life: SessionLife = {
      current: () => this.lost === end,
      lose: (why) => {
        if (life.current()) end(why);
        else this.deps.logger.debug({ endpoint: this.opts.endpoint, reason: why }, 'opcua event of a torn-down session ignored');
      },
      activity: () => {
        if (life.current()) this.lastActivity = this.mono();
      },
    };
    this.pki ??= await certificateManager(this.certs, this.connect.pkiDir, this.connect.trustUnknownServer);
    const { client, session } = await openSession(this.ua, this.pki, this.connect, ended.signal);
    this.client = client;
    this.session = session;
    const onLost = (why: string) => () => life.lose(why);
    client.on('connection_lost', onLost('connection lost'));
    client.on('close', onLost('connection closed'));
    session.on('session_closed', onLost('session closed by the server'));
    session.on('keepalive_failure', onLost('session keepalive failed'));
    let keepaliveMs = 0;
    for (const sub of this.opts.subscriptions)
      keepaliveMs = Math.max(
        keepaliveMs,
        await untilAborted(this.subscribe(session, sub, life, ended.signal), ended.signal, this.opts.endpoint, `subscription '${sub.name}'`),
      );
    this.lastActivity = this.mono();
    this.markConnected();
    const watchdogMs = 3 * keepaliveMs + 2000;
    const watchdog = setInterval(
      () => {
        if (this.mono() - this.lastActivity > watchdogMs) life.lose(`no data or keepalive from the server for ${watchdogMs} ms`);
      },
      Math.min(1000, watchdogMs),
    );
    try {
      const reason = await lost;
      if (!this.stopping) {
        // The gap starts at the last data or keepalive: a server that froze is noticed only when
        // the watchdog fires, seconds later.
        this.lostAt = Math.min(this.mono(), this.lastActivity || this.mono());
        this.deps.logger.warn({ endpoint: this.opts.endpoint, reason }, 'opcua session lost; rebuilding client, session and subscriptions');
      }
      return reason;
    } finally {
      clearInterval(watchdog);
    }
  }

  private markConnected(): void {
    if (this.everConnected) {
      this.counts.reconnects++;
      this.metrics.reconnects.inc({ kind: KIND, source: this.name });
    }
    if (this.everConnected && this.lostAt !== undefined) {
      const ms = this.mono() - this.lostAt;
      // from/to on today's wall clock: the gap's length is elapsed time, whatever the clock did meanwhile
      const to = this.now();
      this.lastGap = { from: new Date(to - ms).toISOString(), to: new Date(to).toISOString(), ms };
      this.counts.gaps++;
      this.metrics.gaps.inc({ kind: KIND, source: this.name });
      this.metrics.gapSeconds.inc({ kind: KIND, source: this.name }, ms / 1000);
      this.deps.logger.warn({ endpoint: this.opts.endpoint, gapMs: ms, from: this.lastGap.from }, 'opcua session and subscriptions restored after a gap');
    }
    this.lostAt = undefined;
    this.everConnected = true;
    this.state = 'running';
    this.metrics.connected.set({ kind: KIND, source: this.name }, 1);
  }

  /**
   * Create one subscription and its monitored items; returns its keepalive period (ms). Each request
   * is bounded by connectTimeoutMs, as the connect and the session's creation are: a server that
   * opened the session and then held the subscription's creation kept the source there for
   * node-opcua's transaction timeout (measured: values 19 s after the hold, connectTimeoutMs 1 s).
   */
  private async subscribe(session: OpcuaSession, sub: OpcuaOptions['subscriptions'][number], life: SessionLife, signal: AbortSignal): Promise<number> {
    const ua = this.ua;
    const readings = this.readings;
    const step = <T>(p: Promise<T>, what: string): Promise<T> => bounded(p, this.connect.timeoutMs, what, this.opts.endpoint, signal);
    const keepAliveCount = Math.max(1, Math.min(10, Math.ceil(5000 / sub.publishingIntervalMs)));
    const subscription = await step(
      session.createSubscription2({
        requestedPublishingInterval: sub.publishingIntervalMs,
        requestedMaxKeepAliveCount: keepAliveCount,
        requestedLifetimeCount: keepAliveCount * 6,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
      }),
      `creation of subscription '${sub.name}'`,
    );
    subscription.on('keepalive', () => life.activity());
    subscription.on('received_notifications', () => life.activity());
    subscription.on('terminated', () => life.lose(`subscription '${sub.name}' terminated`));
    for (const group of itemsByParameters(ua, sub)) {
      const { params } = group;
      const items = resolvableItems(ua, group.items, (item, why) =>
        readings.refused(item, `not a node id the client can read (${why}): fix the nodeId (gatehouse opcua browse lists them)`),
      );
      // Chunks keep a request within the server's per-call limits.
      for (let i = 0; i < items.length; i += 1000) {
        const chunk = items.slice(i, i + 1000);
        // The group's 'changed' listener is on before its items are created: a value the server
        // sends at once (the initial one) could otherwise be handled before the code after an
        // awaited monitorItems() ran, and a tag that does not change was never read.
        const group = ua.ClientMonitoredItemGroup.create(
          subscription,
          chunk.map((it) => ({ nodeId: it.nodeId, attributeId: ua.AttributeIds.Value })),
          params,
          ua.TimestampsToReturn.Both,
        );
        group.on('changed', (_mi, dataValue, index) => {
          // A late value of a torn-down session is still the server's value: committed, but it is
          // no sign of life of the current session.
          life.activity();
          readings.onValue(sub.name, chunk[index] as OpcuaItem, dataValue);
        });
        await step(
          new Promise<void>((resolve, reject) => {
            group.once('initialized', () => resolve());
            group.once('terminated', (err?: Error) => reject(err ?? new Error('monitored items terminated')));
          }),
          `creation of the monitored items of subscription '${sub.name}'`,
        );
        group.monitoredItems.forEach((mi, k) => readings.monitored(chunk[k] as OpcuaItem, mi.statusCode));
      }
    }
    return subscription.publishingInterval * subscription.maxKeepAliveCount;
  }

  private async teardown(): Promise<void> {
    const client = this.client;
    const session = this.session;
    this.client = undefined;
    this.session = undefined;
    this.lost = null;
    this.metrics.connected.set({ kind: KIND, source: this.name }, 0);
    if (client) client.removeAllListeners();
    await closeQuietly(client, session, 2000);
  }
}
