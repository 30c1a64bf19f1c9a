// The subscriptions of an MQTT source's persistent session (source.ts holds the connection and the
// messages): what it asks for at each connection, what the broker granted or refused (the SUBACK's
// code per filter), the filters an earlier configuration left in the session and their
// unsubscription, and the remembering of what the session holds in the store (session.ts).
// Invariants: every configured filter is subscribed at every connection (a broker that lost the
// session lost its subscriptions too); a filter no longer configured is kept to unsubscribe until
// the broker confirms it; the store is written only when what the session holds changes, and a
// failed write is tried again at the next connection.
import type { ISubscriptionGrant, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage } from '../../../../core/errors.js';
import type { Intake } from '../../contract.js';
import type { MqttSourceMetrics } from './metrics.js';
import type { MqttSourceOptions } from './options.js';
import { readSubscribed, writeSubscribed } from './session.js';

export interface SubscriptionsDeps {
  o: MqttSourceOptions;
  /** The source's name (a metrics label) and its broker URL without credentials (for errors). */
  name: string;
  target: string;
  logger: Logger;
  metrics: MqttSourceMetrics;
  /** The source's error (kept, counted, logged at most once a minute per `key`). */
  fail(message: string, key?: string): void;
  /** `c` is still the source's client (not one it has stopped or replaced). */
  current(c: MqttClient): boolean;
  /** This connection's lines go to debug (a connection that flaps logs once a minute). */
  quiet(): boolean;
  /** The broker answered the SUBSCRIBE of connection `c` (some filters may be refused). */
  subscribed?(c: MqttClient): void;
}

export class SessionSubscriptions {
  /** What the broker granted at the last SUBACK (qos null: refused). */
  private granted: Array<{ filter: string; qos: number | null }> = [];
  /** Filters an earlier configuration subscribed to in this session, not configured now: unsubscribed at the next connection. */
  private stale: string[] = [];
  /** What the store says the session holds (JSON of the filters), to write it only when it changes. */
  private remembered = '';
  private intake: Intake | undefined;
  private clientId = '';

  constructor(private readonly d: SubscriptionsDeps) {}

  /** Read what the session of `clientId` holds by an earlier run: the filters no longer configured are to unsubscribe. */
  async load(intake: Intake, clientId: string): Promise<void> {
    const configured = new Set(this.d.o.topics.map((t) => t.filter));
    const earlier = await readSubscribed(intake, clientId);
    this.intake = intake;
    this.clientId = clientId;
    this.stale = earlier.filter((f) => !configured.has(f));
    this.remembered = JSON.stringify(earlier);
  }

  /** At each CONNACK: unsubscribe what an earlier configuration left, and subscribe. */
  connected(c: MqttClient, sessionPresent: boolean): void {
    // A new session holds no subscription of an earlier configuration.
    if (!sessionPresent) this.stale = [];
    this.unsubscribeStale(c);
    // Subscribed at every connection: a broker that lost the session (restarted without
    // persistence, session expired) has lost the subscriptions too.
    this.subscribe(c);
  }

  /** For the source's status: as granted, or as configured before the first SUBACK. */
  shown(): Array<{ filter: string; qos: number | null }> {
    return this.granted.length > 0 ? this.granted : this.d.o.topics.map((t) => ({ filter: t.filter, qos: null }));
  }

  private subscribe(c: MqttClient): void {
    const { o, metrics } = this.d;
    // MQTT 5: Retain Handling 1, retained messages only for a subscription the session does not
    // hold yet, so a retained command is not replayed at every reconnect. (MQTT 3.1.1 has no such
    // option: the broker resends retained messages at each of these subscriptions.)
    const rh = o.protocolVersion === 5 ? { rh: 1 as const } : {};
    const wanted = Object.fromEntries(o.topics.map((t) => [t.filter, { qos: t.qos, ...rh }]));
    c.subscribe(wanted, (err, grants?: ISubscriptionGrant[], suback?: { granted: unknown[] }) => {
      // mqtt.js fails the whole call when the SUBACK refuses any filter (0x80 and up); the SUBACK
      // still gives one code per filter, in the order asked, so the granted ones are known too.
      const codes = err ? (suback?.granted as number[] | undefined) : grants?.map((g) => g.qos);
      const asked = grants ?? [];
      if (!codes || codes.length !== asked.length) {
        // The connection closed before the SUBACK (the source dropped it after a refused message,
        // or the broker closed it): the close says so, and the next connection subscribes again.
        if (!this.d.current(c) || !c.connected) return;
        return this.d.fail(`subscribing on ${this.d.target} failed: ${errorMessage(err)}`, 'subscribe-failed');
      }
      const all = asked.map((g, i) => ({ filter: g.topic, code: codes[i]! }));
      this.granted = all.map((g) => ({ filter: g.filter, qos: g.code >= 0x80 ? null : g.code }));
      const refused = all.filter((g) => g.code >= 0x80);
      metrics.refusedSubscriptions.set({ source: this.d.name }, refused.length);
      for (const g of refused) {
        this.d.fail(`the broker refused the subscription to '${g.filter}' (reason 0x${g.code.toString(16)}): check the user's ACL on ${this.d.target}`);
      }
      if (refused.length === 0) this.d.logger[this.d.quiet() ? 'debug' : 'info']({ subscriptions: this.granted }, 'MQTT source subscribed');
      this.remember();
      this.d.subscribed?.(c);
    });
  }

  /** Unsubscribe the filters an earlier configuration left in the session (kept to try again at the next connection if it fails). */
  private unsubscribeStale(c: MqttClient): void {
    const stale = this.stale;
    if (stale.length === 0) return;
    c.unsubscribe(stale, (err) => {
      if (err) return this.d.fail(`unsubscribing ${stale.join(', ')} (no longer in topics) on ${this.d.target} failed: ${errorMessage(err)}`);
      this.stale = this.stale.filter((f) => !stale.includes(f));
      this.d.logger.info(
        { filters: stale },
        'MQTT source: unsubscribed the filters no longer in topics (left in the persistent session by an earlier configuration)',
      );
      this.remember();
    });
  }

  /** Write what the session holds (the configured filters, and those still to unsubscribe) when it changed. */
  private remember(): void {
    const intake = this.intake;
    const filters = [...this.d.o.topics.map((t) => t.filter), ...this.stale];
    const json = JSON.stringify(filters);
    if (!intake || json === this.remembered) return;
    this.remembered = json;
    writeSubscribed(intake, this.clientId, filters).catch((err: unknown) => {
      // Written again at the next connection.
      this.remembered = '';
      this.d.logger.debug({ err: errorMessage(err) }, 'MQTT source: the subscribed filters were not written');
    });
  }
}
