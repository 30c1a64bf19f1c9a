// Source `shadows` (built in): the local Device Shadow service's door, loaded at every start and
// kept small. The broker hands it each client publish whose topic starts with `$aws/things/`
// (BrokerSource's one prefix check: other topics pay nothing more); a shadow request is handled by
// service.ts, imported on the first one (or at start when the store holds shadows), and the
// device's PUBACK waits for its document's write. The answers go through the broker like any
// publish (subscribers get them) and enter the rules through this source, as republished
// messages do (a rule on $aws/things/+/shadow/update/accepted sees them). It also gives the rules
// their get_thing_shadow() lookup, the admin API its operations, and the broker its guard of the
// answer topics. docs/shadows.md.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Message } from '../../core/message.js';
import { counter, gauge } from '../../core/metrics.js';
import { rateLimitedLog } from '../../core/rate-log.js';
import { errorMessage } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import { InternalSource } from '../pipeline/sources/internal-source.js';
import type { Publisher } from '../pipeline/actions/republish.js';
import type { ShadowOptions } from './options.js';
import { THINGS_PREFIX, parseShadowTopic, reservedShadowPublish, type ShadowOp } from './topics.js';
import type { Outcome, ShadowService, ShadowStore, ShadowSummary } from './service.js';

export { shadowOptionsSchema, type ShadowOptions } from './options.js';
export { reservedShadowPublish } from './topics.js';
export type { Outcome, ShadowSummary } from './service.js';

/** A shadow operation's log lines: one a minute per kind, with the count since. */
const LOG_EVERY_MS = 60_000;

export interface ShadowSourceDeps {
  logger: Logger;
  registry: Registry;
  /** The store's meta area (the documents' keys `shadow/...`). */
  store: ShadowStore;
  /** The broker's internal publish (made after this source: bound late). */
  publish(packet: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean }): Promise<void>;
  now?: () => number;
}

export class ShadowSource extends InternalSource {
  private service: ShadowService | undefined;
  private loading: Promise<ShadowService> | undefined;
  private readonly requests;
  private readonly rejections;
  private readonly rateLog;
  private answersPublished = 0;
  private stopping = false;

  constructor(
    private readonly options: ShadowOptions,
    private readonly deps: ShadowSourceDeps,
  ) {
    super('shadows');
    const { registry } = deps;
    this.requests = counter(registry, 'gatehouse_shadow_requests_total', 'Device Shadow requests answered, by operation and outcome', ['operation', 'outcome']);
    this.rejections = counter(registry, 'gatehouse_shadow_rejections_total', 'Device Shadow requests rejected, by code (400, 404, 409, 413, 415, 429, 500)', [
      'code',
    ]);
    const self = this;
    gauge(registry, 'gatehouse_shadows', 'Device shadows the gateway keeps (classic and named)', [], {
      collect() {
        this.set(self.count());
      },
    });
    this.rateLog = rateLimitedLog(deps.logger.child({ c: 'shadows' }), 'warn', LOG_EVERY_MS, monotonicNow);
  }

  /** Bind the intake, and load the service now when the store holds shadows (rules read them at once). */
  override async start(intake: Parameters<InternalSource['start']>[0]): Promise<void> {
    await super.start(intake);
    const keys = (await this.deps.store.metaKeys?.('shadow/')) ?? [];
    if (keys.length > 0) await this.load();
  }

  /** Stop taking requests; those in flight finish (the store closes after the sources stop). */
  override async stop(): Promise<void> {
    this.stopping = true;
    await this.service?.drain();
    await super.stop();
  }

  /**
   * The broker's tap for a client publish on `$aws/things/...`: a shadow request's promise (its
   * document written, its answers published), or undefined for any other topic.
   */
  readonly handle = (msg: Message): Promise<void> | undefined => {
    const t = parseShadowTopic(msg.topic);
    if (t === undefined || t.answer) return undefined;
    if (this.stopping) return Promise.reject(new Error('the gateway is stopping: shadow request not taken'));
    return this.load().then((s) => s.request(t.op as ShadowOp, t.thing, t.name, msg.payload, 'mqtt').then(() => undefined));
  };

  /**
   * The republish action's publisher with the shadow requests a rule makes handled too: AWS's
   * common rule `republish` to `$$aws/things/${topic(2)}/shadow/update` updates the shadow. Its
   * promise (the action's) then covers the document's write.
   */
  tapPublisher(inner: Publisher): Publisher {
    return {
      publish: (p) => {
        const published = inner.publish(p);
        if (!isThingsTopic(p.topic)) return published;
        const tapped = this.handle({
          topic: p.topic,
          payload: p.payload,
          qos: p.qos,
          source: { kind: 'internal', id: p.sourceRule ?? 'rule' },
          receivedAt: (this.deps.now ?? Date.now)(),
        });
        return tapped === undefined ? published : Promise.all([published, tapped]).then(() => undefined);
      },
    };
  }

  /** The broker's topic guard part: clients may not publish the service's answers. */
  readonly refusePublish = (topic: string): string | undefined => (topic.charCodeAt(0) === 36 ? reservedShadowPublish(topic) : undefined);

  /** get_thing_shadow(): synchronous, from memory (no shadow: undefined). */
  readonly lookup = {
    get: (thing: string, name: string | undefined): unknown => this.service?.lookup(thing, name),
  };

  /** The admin API's operations (the same answers and publishes as over MQTT; rejections are the HTTP answer). */
  readonly admin = {
    get: async (thing: string, name: string | undefined): Promise<Outcome> => (await this.load()).request('get', thing, name, Buffer.alloc(0), 'admin'),
    update: async (thing: string, name: string | undefined, body: Buffer): Promise<Outcome> =>
      (await this.load()).request('update', thing, name, body, 'admin'),
    delete: async (thing: string, name: string | undefined): Promise<Outcome> => (await this.load()).request('delete', thing, name, Buffer.alloc(0), 'admin'),
    list: async (): Promise<ShadowSummary[]> => (await this.load()).list(),
  };

  /** Shadows kept (0 while the service is not loaded: none were stored at start and none made since). */
  count(): number {
    return this.service?.count ?? 0;
  }

  private load(): Promise<ShadowService> {
    if (this.service) return Promise.resolve(this.service);
    this.loading ??= import('./service.js').then(async ({ ShadowService }) => {
      const service = await ShadowService.load({
        store: this.deps.store,
        publish: (topic, payload) => this.publishAnswer(topic, payload),
        counters: {
          answered: (op, outcome) => this.requests.inc({ operation: op, outcome }),
          rejected: (code) => this.rejections.inc({ code: String(code) }),
        },
        rateLog: this.rateLog,
        options: this.options,
        now: this.deps.now ?? Date.now,
      });
      this.service = service;
      return service;
    });
    // a failed load (the store unreadable) is tried again by the next request
    this.loading.catch((err: unknown) => {
      this.loading = undefined;
      this.rateLog('shadow-load', { err: errorMessage(err) }, 'the stored shadows could not be read');
    });
    return this.loading;
  }

  /** An answer: to the broker's subscribers, then into the rules (as a republished message). */
  private async publishAnswer(topic: string, payload: Buffer): Promise<void> {
    await this.deps.publish({ topic, payload, qos: 1, retain: false });
    this.answersPublished++;
    const msg: Message = { topic, payload, qos: 1, source: { kind: 'internal', id: 'shadows' }, receivedAt: (this.deps.now ?? Date.now)() };
    // its durable commit (a rule archiving the answers) is tracked by the intake, not waited for here
    this.intake
      .submit(msg)
      ?.catch((err: unknown) => this.rateLog('shadow-rules', { topic, err: errorMessage(err) }, 'a shadow answer was refused by the rules'));
  }

  protected details(): Record<string, unknown> {
    return { loaded: this.service !== undefined, shadows: this.count(), answersPublished: this.answersPublished };
  }
}

/** Whether a topic is in the shadow service's space (the broker's prefix check). */
export const isThingsTopic = (topic: string): boolean => topic.charCodeAt(0) === 36 && topic.startsWith(THINGS_PREFIX);
