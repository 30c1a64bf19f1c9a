// `type: sparkplug` source: a Sparkplug B host application. Its connection is an mqtt source's
// (mqtt/source.ts: TLS, credentials, persistent session, PUBACK only once committed, in order,
// backoff, metrics), started with an intake of its own that turns each Sparkplug message into one
// JSON message for the rules (state.ts: names for aliases, typed values, births and deaths, faults)
// before it reaches the pipeline's intake; what that intake answers is what the broker is answered.
//
// Around the state: rebirth requests (NCMD Node Control/Rebirth = true) for the nodes state.ts
// says need one, and, with a hostId, the Sparkplug 3.0 STATE of the host: its will is
// {"online":false} and, once subscribed, {"online":true} with the same timestamp (a new one at each
// connect), retained at QoS 1; {"online":false} again at stop, before the connection ends.
//
// With `commands`, JSON commands on the local broker become NCMD/DCMD writes on this connection
// (commands.ts), checked against the births the state holds.
//
// STATE and command (NCMD, DCMD) messages give no record (the embedded broker's rules see them
// raw); a topic outside Sparkplug's shapes neither, counted as dropped by the connection.
import { clocksOf, type Clocks } from '../../../../core/clock.js';
import { GatehouseError, errorMessage } from '../../../../core/errors.js';
import type { Message } from '../../../../core/message.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import type { MqttSourceOptions } from '../mqtt/options.js';
import { MqttSubscribeSource } from '../mqtt/source.js';
import { industrialWrites } from '../industrial-metrics.js';
import { SparkplugCommands, type CommandConnection } from './commands.js';
import { sparkplugMetrics, type SparkplugMetrics } from './metrics.js';
import type { SparkplugSourceOptions } from './options.js';
import { decodePayload, encodePayload, type RawPayload } from './schema.js';
import { SparkplugState, type Outcome } from './state.js';
import { NAMESPACE, parseTopic, topicMaker } from './topic.js';
import { DT } from './values.js';

/** A repeated fault of one kind (undecodable payloads, bounds) is logged at most this often. */
const REPEAT_LOG_MS = 60_000;
/** How long a stop waits for the broker to take the offline STATE. */
const STATE_AT_STOP_MS = 2_000;

interface Counts {
  births: number;
  deaths: number;
  seqGaps: number;
  /** Messages of an earlier session delivered after the session's NBIRTH. */
  late: number;
  rebirthsRequested: number;
  unresolvedMetrics: number;
  untracked: number;
  undecodable: number;
}

/** The url the source connects to when it has none: the embedded broker's first listener without TLS. */
export function localBrokerUrl(listeners: ReadonlyArray<{ host: string; port: number; tls: boolean }>): string | undefined {
  const l = listeners.find((x) => !x.tls);
  if (!l) return undefined;
  const host = l.host === '0.0.0.0' || l.host === '' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${l.port}`;
}

export class SparkplugSource implements Source {
  readonly kind = 'sparkplug';
  readonly name: string;
  private conn: MqttSubscribeSource | undefined;
  private readonly state: SparkplugState;
  private readonly commands: SparkplugCommands;
  private readonly metrics: SparkplugMetrics;
  private readonly clocks: Clocks;
  private readonly warn: RateLog;
  private readonly topicOf: ReturnType<typeof topicMaker>;
  private readonly counts: Counts = { births: 0, deaths: 0, seqGaps: 0, late: 0, rebirthsRequested: 0, unresolvedMetrics: 0, untracked: 0, undecodable: 0 };
  /** The timestamp of this connection's STATE (its will's and its online message's). */
  private stateTs = 0;
  /** The online STATE of this connection has been published. */
  private stateOnline = false;
  private stopping = false;

  constructor(
    private readonly o: SparkplugSourceOptions,
    private readonly deps: SourceDeps,
  ) {
    this.name = o.name;
    this.clocks = clocksOf(deps);
    this.metrics = sparkplugMetrics(deps.registry);
    this.warn = rateLimitedLog(deps.logger, 'warn', REPEAT_LOG_MS, this.clocks.monotonic);
    this.topicOf = topicMaker(o.topic, o.name);
    this.state = new SparkplugState({
      maxNodes: o.maxNodes,
      maxDevicesPerNode: o.maxDevicesPerNode,
      maxMetricsPerNode: o.maxMetricsPerNode,
      rebirth: o.rebirth,
      rebirthIntervalMs: o.rebirthIntervalMs,
    });
    this.commands = new SparkplugCommands(o.name, o.commands, deps, this.state, this.commandConnection(), industrialWrites(deps.registry));
  }

  async start(intake: Intake): Promise<void> {
    if (this.conn) return;
    this.stopping = false;
    const conn = new MqttSubscribeSource(this.connectionOptions(), this.deps, {
      clientOptions: (co) => this.withWill(co),
      client: (c) => this.onClient(c),
      subscribed: (c) => this.publishOnline(c),
      beforeEnd: (c) => this.publishOffline(c),
      notTaken: (topic, why, bytes) => this.onNotTaken(topic, why, bytes),
    });
    this.conn = conn;
    this.gauges();
    await conn.start({
      submit: (m) => this.take(m, intake),
      commitMeta: (k, v) => intake.commitMeta(k, v),
      readMeta: (k) => intake.readMeta(k),
      ...(intake.readMetas ? { readMetas: (p: string) => intake.readMetas!(p) } : {}),
      accepting: () => intake.accepting(),
    });
    this.commands.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.commands.stop();
    await this.conn?.stop();
    this.conn = undefined;
    for (const state of ['online', 'offline']) {
      this.metrics.nodes.remove({ source: this.name, state });
      this.metrics.devices.remove({ source: this.name, state });
    }
  }

  status(): SourceStatus {
    const conn = this.conn?.status();
    const counts = this.state.counts();
    return {
      kind: this.kind,
      name: this.name,
      state: conn?.state ?? 'stopped',
      details: {
        ...(conn?.details ?? {}),
        groups: this.o.groups.length > 0 ? this.o.groups : 'all',
        hostId: this.o.hostId ?? null,
        nodes: counts.nodes,
        devices: counts.devices,
        ...this.counts,
        ...(this.o.commands ? { writes: this.commands.counts() } : {}),
      },
    };
  }

  /** The connection as the commands use it: NCMD/DCMD at QoS 0, not retained (Sparkplug's rule for commands). */
  private commandConnection(): CommandConnection {
    const broker = (): string => String(this.conn?.status().details?.url ?? 'the broker');
    return {
      connected: () => this.conn?.status().state === 'connected',
      get target() {
        return broker();
      },
      publish: (topic, payload) => (this.conn ? this.conn.publish(topic, payload, { qos: 0, retain: false }) : Promise.reject(new Error('source stopped'))),
    };
  }

  /** The connection as an mqtt source's: the url (the embedded broker's by default), the groups' filters. */
  private connectionOptions(): MqttSourceOptions {
    const o = this.o;
    let url = o.url;
    if (url === undefined) {
      url = localBrokerUrl(this.deps.localBroker?.() ?? []);
      if (url === undefined)
        throw new GatehouseError(
          'GH_CONFIG_INVALID',
          `sparkplug source '${o.name}': no url, and the embedded broker has no listener without TLS to connect to`,
          {
            where: `sources.${o.name}.url`,
            hint: 'set url (mqtts://<host>:<port> with caFile for a TLS listener), or give broker.listeners one without tls',
          },
        );
    }
    const filters = o.groups.length === 0 ? [`${NAMESPACE}/#`] : o.groups.map((g) => `${NAMESPACE}/${g}/#`);
    // Its own STATE, to answer an offline one published for it while it is online (Sparkplug 3.0).
    if (o.hostId !== undefined && o.groups.length > 0) filters.push(`${NAMESPACE}/STATE/${o.hostId}`);
    return {
      type: 'mqtt',
      name: o.name,
      enabled: true,
      url,
      clientId: o.clientId,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.caFile !== undefined ? { caFile: o.caFile } : {}),
      ...(o.certFile !== undefined ? { certFile: o.certFile } : {}),
      ...(o.keyFile !== undefined ? { keyFile: o.keyFile } : {}),
      rejectUnauthorized: o.rejectUnauthorized,
      // The embedded broker is this machine's: never through the site's proxy.
      ...(o.proxy !== undefined ? { proxy: o.proxy } : o.url === undefined ? { proxy: false as const } : {}),
      protocolVersion: o.protocolVersion,
      ...(o.sessionExpirySec !== undefined ? { sessionExpirySec: o.sessionExpirySec } : {}),
      maxMessageBytes: o.maxMessageBytes,
      keepaliveSec: o.keepaliveSec,
      connectTimeoutMs: o.connectTimeoutMs,
      reconnectMinMs: o.reconnectMinMs,
      reconnectMaxMs: o.reconnectMaxMs,
      topics: filters.map((filter) => ({ filter, qos: o.qos, stripPrefix: '', localPrefix: '' })),
    };
  }

  /** One message of the connection: its JSON to the pipeline, or nothing for what gives no record. */
  private take(m: Message, intake: Intake): Promise<void> | undefined {
    const t = parseTopic(m.topic);
    if (t.kind === 'state') {
      this.onState(t.hostId, m.payload);
      return undefined;
    }
    if (t.kind === 'other') {
      this.warn('other', { topic: m.topic, why: t.why }, 'sparkplug source: a message that is no Sparkplug B message gives no record');
      return undefined;
    }
    if (t.type === 'NCMD' || t.type === 'DCMD') return undefined;
    let raw: RawPayload | undefined;
    let error: string | undefined;
    try {
      raw = decodePayload(m.payload);
    } catch (err) {
      error = `not a Sparkplug B payload: ${errorMessage(err)}`;
      raw = undefined;
    }
    const out = this.state.message(t, raw, this.clocks.now(), error);
    if (raw === undefined) out.json.payloadBase64 = m.payload.toString('base64');
    this.account(t, out);
    const json: Message = {
      topic: this.topicOf(t),
      payload: Buffer.from(JSON.stringify(out.json)),
      qos: m.qos,
      source: { kind: 'sparkplug', id: m.source?.id ?? this.o.clientId },
      receivedAt: m.receivedAt,
      properties: { contentType: 'application/json' },
    };
    return intake.submit(json);
  }

  /** Counters, logs, gauges and the rebirth request of one message's outcome. */
  private account(t: { group: string; type: string; node: string; device?: string | undefined }, out: Outcome): void {
    const s = this.name;
    this.metrics.messages.inc({ source: s, type: t.type });
    if (out.birth) {
      this.counts.births++;
      this.metrics.births.inc({ source: s, level: out.birth });
    }
    if (out.death && out.json.stale !== true) {
      this.counts.deaths++;
      this.metrics.deaths.inc({ source: s, level: out.death });
    }
    for (const p of out.problems) {
      this.metrics.problems.inc({ source: s, problem: p });
      if (p === 'seq-gap') this.counts.seqGaps++;
      if (p === 'late') this.counts.late++;
      if (p === 'undecodable') {
        this.counts.undecodable++;
        this.warn(
          'undecodable',
          { topic: `${t.group}/${t.type}/${t.node}`, err: out.json.undecodable },
          'sparkplug source: a payload that does not decode is kept as base64',
        );
      }
    }
    if (out.unresolved > 0) {
      this.counts.unresolvedMetrics += out.unresolved;
      this.metrics.unresolved.inc({ source: s }, out.unresolved);
    }
    for (const b of out.bounds) {
      this.counts.untracked++;
      this.metrics.untracked.inc({ source: s, bound: b });
      this.warn(
        b,
        { node: `${t.group}/${t.node}`, bound: b },
        `sparkplug source: past ${b === 'max-nodes' ? 'maxNodes' : b === 'max-devices' ? 'maxDevicesPerNode' : 'maxMetricsPerNode'}: the message is kept, the state it would add is not (its aliases stay unresolved)`,
      );
    }
    if (out.log) this.deps.logger.warn({ node: `${t.group}/${t.node}` }, `sparkplug source: ${out.log}`);
    if (out.rebirthHeld) this.metrics.rebirths.inc({ source: s, result: 'held' });
    if (out.rebirth) this.requestRebirth(t.group, t.node);
    if (out.birth || out.death || out.bounds.length > 0 || out.json.beforeBirth) this.gauges();
  }

  /**
   * A birth over maxMessageBytes, dropped by the connection: without it the node's data comes
   * "before birth", and a rebirth request would only bring the same birth, dropped again (every
   * rebirthIntervalMs, a large message each time): no rebirth is asked for that node until a
   * birth is taken, and the log says what to raise.
   */
  private onNotTaken(topic: string, why: string, bytes: number): void {
    if (why !== 'too-large') return;
    const t = parseTopic(topic);
    if (t.kind !== 'message' || (t.type !== 'NBIRTH' && t.type !== 'DBIRTH')) return;
    if (!this.state.birthDropped(t.group, t.node, this.clocks.now())) return;
    this.gauges();
    this.warn(
      `big-birth:${t.group}/${t.node}`,
      { node: `${t.group}/${t.node}`, type: t.type, bytes, maxMessageBytes: this.o.maxMessageBytes },
      `sparkplug source: a ${t.type} of ${bytes} bytes, over maxMessageBytes, was dropped: the node's data stays unnamed and no rebirth is requested for it (the same birth would be dropped again). Fix: raise the source's maxMessageBytes (on the embedded broker, broker.maxPayloadBytes too)`,
    );
  }

  private gauges(): void {
    const c = this.state.counts();
    for (const state of ['online', 'offline'] as const) {
      this.metrics.nodes.set({ source: this.name, state }, c.nodes[state]);
      this.metrics.devices.set({ source: this.name, state }, c.devices[state]);
    }
  }

  /** NCMD spBv1.0/<group>/NCMD/<node> with Node Control/Rebirth = true, QoS 0 (as Sparkplug's commands). */
  private requestRebirth(group: string, node: string): void {
    const now = this.clocks.now();
    const payload = encodePayload({ timestamp: now, metrics: [{ name: 'Node Control/Rebirth', timestamp: now, datatype: DT.Boolean, booleanValue: true }] });
    const conn = this.conn;
    if (!conn) return;
    conn.publish(`${NAMESPACE}/${group}/NCMD/${node}`, payload, { qos: 0 }).then(
      () => {
        this.counts.rebirthsRequested++;
        this.metrics.rebirths.inc({ source: this.name, result: 'requested' });
      },
      (err: unknown) => {
        this.metrics.rebirths.inc({ source: this.name, result: 'failed' });
        this.warn('rebirth-failed', { node: `${group}/${node}`, err: errorMessage(err) }, 'sparkplug source: a rebirth request was not sent');
      },
    );
  }

  // --- Host application STATE (Sparkplug 3.0) ---

  private stateTopic(): string {
    return `${NAMESPACE}/STATE/${this.o.hostId}`;
  }

  private statePayload(online: boolean): Buffer {
    return Buffer.from(JSON.stringify({ online, timestamp: this.stateTs }));
  }

  /** The will of the first connect: offline, with this connection's timestamp. */
  private withWill(co: IClientOptions): IClientOptions {
    if (this.o.hostId === undefined) return co;
    this.stateTs = this.clocks.now();
    return { ...co, will: { topic: this.stateTopic(), payload: this.statePayload(false), qos: 1, retain: true } };
  }

  /** Each reconnect: a new timestamp in the will, which the online message repeats. */
  private onClient(c: MqttClient): void {
    if (this.o.hostId === undefined) return;
    c.on('reconnect', () => {
      this.stateTs = this.clocks.now();
      this.stateOnline = false;
      c.options.will = { topic: this.stateTopic(), payload: this.statePayload(false), qos: 1, retain: true };
    });
    c.on('close', () => {
      this.stateOnline = false;
    });
  }

  private publishOnline(c: MqttClient): void {
    if (this.o.hostId === undefined || this.stopping) return;
    c.publishAsync(this.stateTopic(), this.statePayload(true), { qos: 1, retain: true }).then(
      () => {
        this.stateOnline = true;
      },
      (err: unknown) =>
        this.warn('state', { err: errorMessage(err) }, 'sparkplug source: the online STATE was not published (published again at the next connect)'),
    );
  }

  private async publishOffline(c: MqttClient): Promise<void> {
    if (this.o.hostId === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      c.publishAsync(this.stateTopic(), this.statePayload(false), { qos: 1, retain: true }),
      new Promise((resolve) => {
        timer = setTimeout(resolve, STATE_AT_STOP_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Its own STATE said offline while it is online (a later timestamp than this connection's): said online again. */
  private onState(hostId: string, payload: Buffer): void {
    if (hostId !== this.o.hostId || this.stopping || !this.stateOnline) return;
    let s: { online?: unknown; timestamp?: unknown };
    try {
      s = JSON.parse(payload.toString('utf8')) as typeof s;
    } catch {
      return;
    }
    if (s.online !== false || typeof s.timestamp !== 'number' || s.timestamp < this.stateTs) return;
    this.stateTs = Math.max(this.clocks.now(), s.timestamp + 1);
    this.conn?.publish(this.stateTopic(), this.statePayload(true), { qos: 1, retain: true }).catch(() => undefined);
  }
}
