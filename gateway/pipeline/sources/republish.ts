// Source `republish` (built in, named 'republish'): the republish action's output. As in AWS IoT,
// a republished message goes to the broker's subscribers AND re-enters the rules; the republish
// action stops loops by a hop limit (actions/republish.ts MAX_REPUBLISH_HOPS). `publisher` is what
// the republish action is handed; its promise covers the broker publish and any durable commit.
import type { Message } from '../../../core/message.js';
import type { Broker } from '../../broker/index.js';
import type { Publisher } from '../actions/republish.js';
import type { Intake, Source, SourceStatus } from '../contract.js';
import { BoundIntake } from './bound-intake.js';

export class RepublishSource implements Source {
  readonly kind = 'republish';
  readonly name = 'republish';
  private readonly intake = new BoundIntake(this.name);
  private republished = 0;

  constructor(private readonly broker: Pick<Broker, 'publish'>) {}

  readonly publisher: Publisher = {
    publish: (p) => {
      this.republished++;
      const done = this.broker.publish({
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        retain: p.retain ?? false,
        ...(p.properties ? { properties: p.properties } : {}),
      });
      const msg: Message = {
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        source: { kind: 'internal', id: p.sourceRule ?? 'rule' },
        receivedAt: Date.now(),
        hops: p.hops ?? 1,
      };
      if (p.properties) msg.properties = p.properties;
      const durable = this.intake.submit(msg);
      return durable === undefined ? done : Promise.all([done, durable]).then(() => undefined);
    },
  };

  private running = false;

  async start(intake: Intake): Promise<void> {
    this.intake.bind(intake);
    this.running = true;
  }

  /**
   * The intake stays bound: messages made while the gateway stops (by rules still finishing
   * in-flight messages) are still submitted and tracked until the drain, as before the pipeline.
   */
  async stop(): Promise<void> {
    this.running = false;
  }

  status(): SourceStatus {
    return { kind: this.kind, name: this.name, state: this.running ? 'running' : 'stopped', details: { republished: this.republished } };
  }
}
