// The OPC UA source: a supervisor loop that opens a session, creates every subscription and its
// monitored items, and turns each data change into a message {value, sourceTimestamp,
// serverTimestamp, statusCode}. Any sign of a dead link (connection lost, session closed,
// subscription terminated, or no keepalive for 3 keepalive periods) tears the client down and
// rebuilds client, session and every subscription from scratch after a backoff, so a subscription
// can never silently stop; the outage is reported as a gap (status, warning log, counters).
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { errorMessage } from '../../../../core/errors.js';
import { clocksOf } from '../../../../core/clock.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { backoffMs, industrialMetrics, RateMeter, type IndustrialMetrics } from '../industrial-metrics.js';
import {
  certificateManager,
  closeQuietly,
  openSession,
  type CertificateManager,
  type ConnectOptions,
  type OpcuaClient,
  type OpcuaModule,
  type OpcuaSession,
} from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';
import { OpcuaCommands } from './commands.js';
import { int64KindOf, itemsByParameters, qualityOf, resolvableItems, toJson } from './values.js';
import { topicRenderer } from '../topic-template.js';

const KIND = 'opcua';
type DataValue = import('node-opcua-client').DataValue;

/**
 * One session's life: its events end only that session. A torn-down session can still speak: its
 * close, given up on by the bounded teardown, completes when its connection ends or node-opcua's
 * 15 s transaction timeout fires, and then emits session_closed. Routed to whatever session is
 * current, that event ended the restored session and reported a second, spurious gap of about a
 * second; bound to its own life, it is ignored (logged at debug).
 */
interface SessionLife {
  /** False once the session this life belongs to has been lost or torn down. */
  current(): boolean;
  /** End this session (no-op once it is no longer current). */
  lose(why: string): void;
  /** A sign of life (data or keepalive) of this session, for the watchdog and the gap start. */
  activity(): void;
}

interface ItemState {
  item: OpcuaItem;
  subscription: string;
  error: string | undefined;
  lastValueAt: number | undefined;
}

export class OpcuaSource implements Source {
  readonly kind = KIND;
  readonly name: string;
  /** Wall time: receivedAt, lastGoodRead, the gap's from/to shown in the status. */
  private readonly now: () => number;
  /** Monotonic time: the watchdog, gap lengths, rates (a wall clock step must not fake a gap or hide one). */
  private readonly mono: () => number;
  private readonly metrics: IndustrialMetrics;
  private readonly items = new Map<string, ItemState>();
  private readonly rate: RateMeter;
  private readonly topic: (vars: Readonly<Record<string, string>>) => string;
  private readonly commands: OpcuaCommands;
  /** A refused commit or a value too large is logged at most once a minute, with the count (a full store refuses every value). */
  private readonly warnLog: RateLog;
  private intake: Intake | null = null;
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
  private lastGoodRead: number | undefined;
  private inFlight = 0;
  private readonly counts = { values: 0, reconnects: 0, gaps: 0, badStatus: 0, uncertainStatus: 0, commitErrors: 0, dropped: 0 };

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
    this.rate = new RateMeter(this.mono);
    this.warnLog = rateLimitedLog(deps.logger, 'warn', 60_000, this.mono);
    this.topic = topicRenderer(opts.topic);
    for (const s of opts.subscriptions)
      for (const item of s.items) this.items.set(item.name, { item, subscription: s.name, error: undefined, lastValueAt: undefined });
    this.commands = new OpcuaCommands(opts, ua, deps, this.metrics, () => this.session);
  }

  async start(intake: Intake): Promise<void> {
    if (this.loop) return;
    this.intake = intake;
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
    const tagErrors: Record<string, string> = {};
    for (const [name, s] of this.items) if (s.error) tagErrors[name] = s.error;
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
        lastGoodRead: this.lastGoodRead === undefined ? null : new Date(this.lastGoodRead).toISOString(),
        lastGap: this.lastGap ?? null,
        valuesPerSecond: this.rate.perSecond(),
        inFlight: this.inFlight,
        items: this.items.size,
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
    let end: (reason: string) => void = () => undefined;
    const lost = new Promise<string>((resolve) => {
      end = resolve;
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
    const { client, session } = await openSession(this.ua, this.pki, this.connect);
    this.client = client;
    this.session = session;
    const onLost = (why: string) => () => life.lose(why);
    client.on('connection_lost', onLost('connection lost'));
    client.on('close', onLost('connection closed'));
    session.on('session_closed', onLost('session closed by the server'));
    session.on('keepalive_failure', onLost('session keepalive failed'));
    let keepaliveMs = 0;
    for (const sub of this.opts.subscriptions) keepaliveMs = Math.max(keepaliveMs, await this.subscribe(session, sub, life));
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

  /** Create one subscription and its monitored items; returns its keepalive period (ms). */
  private async subscribe(session: OpcuaSession, sub: OpcuaOptions['subscriptions'][number], life: SessionLife): Promise<number> {
    const ua = this.ua;
    const keepAliveCount = Math.max(1, Math.min(10, Math.ceil(5000 / sub.publishingIntervalMs)));
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: sub.publishingIntervalMs,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: keepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    subscription.on('keepalive', () => life.activity());
    subscription.on('received_notifications', () => life.activity());
    subscription.on('terminated', () => life.lose(`subscription '${sub.name}' terminated`));
    for (const group of itemsByParameters(ua, sub)) {
      const { params } = group;
      const items = resolvableItems(ua, group.items, (item, why) =>
        this.refused(item, `not a node id the client can read (${why}): fix the nodeId (gatehouse opcua browse lists them)`),
      );
      // Chunks keep a request within the server's per-call limits.
      for (let i = 0; i < items.length; i += 1000) {
        const chunk = items.slice(i, i + 1000);
        const group = await subscription.monitorItems(
          chunk.map((it) => ({ nodeId: it.nodeId, attributeId: ua.AttributeIds.Value })),
          params,
          ua.TimestampsToReturn.Both,
        );
        group.monitoredItems.forEach((mi, k) => {
          const item = chunk[k] as OpcuaItem;
          const st = this.items.get(item.name) as ItemState;
          const code = mi.statusCode;
          st.error = undefined;
          if (code?.isNotGood()) this.refused(item, code.name, 'opcua monitored item refused by the server');
        });
        group.on('changed', (_mi, dataValue, index) => {
          // A late value of a torn-down session is still the server's value: committed, but it is
          // no sign of life of the current session.
          life.activity();
          this.onValue(sub.name, chunk[index] as OpcuaItem, dataValue);
        });
      }
    }
    return subscription.publishingInterval * subscription.maxKeepAliveCount;
  }

  /** An item not monitored (the server refused it, or its node id is not one): a tag error, counted, logged. */
  private refused(item: OpcuaItem, why: string, msg = 'opcua monitored item not created'): void {
    (this.items.get(item.name) as ItemState).error = `monitored item refused: ${why}`;
    this.counts.badStatus++;
    this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: 'bad_status' });
    this.deps.logger.warn({ tag: item.name, nodeId: item.nodeId, status: why }, msg);
  }

  private onValue(subscription: string, item: OpcuaItem, dv: DataValue): void {
    const now = this.now();
    const st = this.items.get(item.name) as ItemState;
    const status = dv.statusCode;
    // OPC UA's three qualities: Good; Uncertain (a value, but questionable: a sensor out of its
    // range, the last usable value of a failed device); Bad (no usable value). Uncertain is its
    // own count, so an alert on bad_status does not fire for a value the server still vouches for.
    const quality = qualityOf(status);
    if (quality === 'good') st.error = undefined;
    else {
      st.error = `${quality} status ${status.name}`;
      if (quality === 'bad') this.counts.badStatus++;
      else this.counts.uncertainStatus++;
      this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: `${quality}_status` });
    }
    if (!this.intake?.accepting() || this.inFlight >= this.opts.maxInFlight) {
      this.counts.dropped++;
      this.metrics.dropped.inc({ kind: KIND, source: this.name, reason: this.inFlight >= this.opts.maxInFlight ? 'in_flight' : 'paused' });
      return;
    }
    const payload = {
      value: toJson(dv.value?.value, int64KindOf(this.ua, dv.value?.dataType)),
      sourceTimestamp: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null,
      serverTimestamp: dv.serverTimestamp ? dv.serverTimestamp.toISOString() : null,
      statusCode: status.name,
    };
    const body = Buffer.from(JSON.stringify(payload));
    if (body.length > this.opts.maxValueBytes) return this.tooLarge(st, item.nodeId, body.length);
    const topic = this.topic({ source: this.name, subscription, tag: item.name, nodeId: item.nodeId });
    let p: Promise<void> | undefined;
    try {
      p = this.intake.submit({
        topic,
        payload: body,
        qos: 1,
        source: { kind: 'opcua', id: `${this.name}/${item.name}` },
        receivedAt: now,
      });
    } catch (err) {
      p = Promise.reject(err);
    }
    const committed = (): void => {
      this.counts.values++;
      this.rate.add(1);
      st.lastValueAt = this.now();
      this.metrics.values.inc({ kind: KIND, source: this.name, device: item.name });
      // A Bad or Uncertain value (the server is up, the device behind it is not, or not quite) is
      // no good read: counted as such, it kept lastGoodRead fresh and a staleness alert on it
      // from ever firing (UncertainLastUsableValue repeats a failed device's last value).
      if (quality !== 'good') return;
      this.lastGoodRead = st.lastValueAt;
      this.metrics.lastGoodRead.set({ kind: KIND, source: this.name, device: '*' }, this.lastGoodRead / 1000);
    };
    if (!p) return committed();
    this.inFlight++;
    p.then(committed, (err: unknown) => {
      this.counts.commitErrors++;
      this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: item.name, error: 'commit' });
      this.warnLog('commit', { tag: item.name, err: errorMessage(err) }, 'opcua value not committed');
    }).finally(() => this.inFlight--);
  }

  /** A value over maxValueBytes (an 8 MB string node went into the store, once a second). */
  private tooLarge(st: ItemState, nodeId: string, bytes: number): void {
    const max = this.opts.maxValueBytes;
    st.error = `value of ${bytes} bytes over maxValueBytes (${max}): dropped`;
    this.counts.dropped++;
    this.metrics.dropped.inc({ kind: KIND, source: this.name, reason: 'too_large' });
    this.warnLog(
      `too_large\0${st.item.name}`,
      { tag: st.item.name, nodeId, bytes, maxValueBytes: max },
      'opcua value too large, dropped; raise maxValueBytes or monitor a smaller node',
    );
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
