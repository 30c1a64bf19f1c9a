// Source `mqtt` (built in, named 'broker'): the embedded aedes broker. A client's PUBLISH reaches
// intake.submit from the broker's authorizePublish hook; for QoS 1/2 the PUBACK/PUBREC waits for
// the returned promise (broker/hooks.ts, broker/inflight.ts). The broker is also an output of the
// pipeline (republish, serial echo, control publish to its subscribers): `broker` is exposed for that.
import type { RuntimeDeps } from '../../../core/deps.js';
import type { Message } from '../../../core/message.js';
import { createBroker, type Broker, type BrokerOptions, type TopicGuard } from '../../broker/index.js';
import type { Intake, Source, SourceStatus } from '../contract.js';
import { BoundIntake } from './bound-intake.js';

export class BrokerSource implements Source {
  readonly kind = 'mqtt';
  readonly name = 'broker';
  private readonly intake = new BoundIntake(this.name);
  private state: 'created' | 'running' | 'stopped' = 'created';

  private constructor(readonly broker: Broker) {}

  /** Create the broker (not listening): other parts may subscribe and publish before start(). */
  static async create(
    options: BrokerOptions,
    deps: RuntimeDeps & {
      topicGuard?: TopicGuard;
      sessionFile?: string;
      retainedFile?: string;
      gatewayStateTopics?: readonly string[];
      /**
       * Told of each client publish on a `$aws/things/...` topic (the local Device Shadow service,
       * gateway/shadow/): a promise the acknowledgement waits for too, or undefined. Other topics
       * pay one character check.
       */
      thingsTap?: (msg: Message) => Promise<void> | undefined;
      /** The gateway's version, on $SYS/broker/version. */
      version?: string;
    },
  ): Promise<BrokerSource> {
    let self: BrokerSource | undefined;
    const tap = deps.thingsTap;
    const onPublish = (msg: Message): Promise<void> | undefined => {
      const submitted = (self as BrokerSource).intake.submit(msg);
      if (tap === undefined || msg.topic.charCodeAt(0) !== 36 || !msg.topic.startsWith('$aws/things/')) return submitted;
      const tapped = tap(msg);
      if (tapped === undefined) return submitted;
      return submitted === undefined ? tapped : Promise.all([submitted, tapped]).then(() => undefined);
    };
    const broker = await createBroker(options, { ...deps, onPublish });
    self = new BrokerSource(broker);
    return self;
  }

  async start(intake: Intake): Promise<void> {
    this.intake.bind(intake);
    await this.broker.start();
    // A stop while the broker started wins (Broker.start then resolves without listening): the
    // source said 'running' (gatehouse_source_up 1) after its stop.
    if (this.state !== 'stopped') this.state = 'running';
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.broker.stop();
  }

  status(): SourceStatus {
    return {
      kind: this.kind,
      name: this.name,
      state: this.state === 'created' ? 'stopped' : this.state,
      details: { listeners: this.broker.addresses(), clients: this.broker.clients().length },
      builtIn: true,
    };
  }
}
