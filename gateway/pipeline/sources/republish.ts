// Source `republish` (built in, named 'republish'): the republish action's output. As in AWS IoT,
// a republished message goes to the broker's subscribers AND re-enters the rules; the republish
// action stops loops by a hop limit (actions/republish.ts MAX_REPUBLISH_HOPS). `publisher` is what
// the republish action is handed; its promise covers the broker publish and any durable commit.
import type { Message } from '../../../core/message.js';
import type { Broker } from '../../broker/index.js';
import type { Publisher } from '../actions/republish.js';
import { InternalSource } from './internal-source.js';

export class RepublishSource extends InternalSource {
  private republished = 0;

  constructor(private readonly broker: Pick<Broker, 'publish'>) {
    super('republish');
  }

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

  protected details(): Record<string, unknown> {
    return { republished: this.republished };
  }
}
