// Source `republish` (built in, named 'republish'): the republish action's output. As in AWS IoT,
// a republished message goes to the broker's subscribers AND re-enters the rules; the republish
// action stops loops by a hop limit (actions/republish.ts MAX_REPUBLISH_HOPS). `publisher` is what
// the republish action is handed; its promise covers the broker publish and any durable commit. A
// publish the broker refuses (a payload over broker.maxPayloadBytes) does not re-enter the rules:
// the action fails, and its rule's error action says why.
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
      return this.broker
        .publish({
          topic: p.topic,
          payload: p.payload,
          qos: p.qos,
          retain: p.retain ?? false,
          ...(p.properties ? { properties: p.properties } : {}),
        })
        .then(() => this.reenter(p));
    },
  };

  /** The republished message into the rules (after the broker took it); its durable commit, if any. */
  private reenter(p: Parameters<Publisher['publish']>[0]): Promise<void> | undefined {
    const msg: Message = {
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      source: { kind: 'internal', id: p.sourceRule ?? 'rule' },
      receivedAt: Date.now(),
      hops: p.hops ?? 1,
    };
    if (p.properties) msg.properties = p.properties;
    return this.intake.submit(msg);
  }

  protected details(): Record<string, unknown> {
    return { republished: this.republished };
  }
}
