// Source `control` (built in, named 'control'): messages the gateway makes itself on the control
// plane (heartbeats, job reports) that also enter the rules, so an archive rule and the MQTT
// bridge exporter can carry them upstream. The control plane calls `ingest` (its LocalBrokerPort).
import type { Message } from '../../../core/message.js';
import { InternalSource } from './internal-source.js';

export class ControlSource extends InternalSource {
  constructor() {
    super('control');
  }

  private submitted = 0;

  /** What control/local-channel.ts LocalBrokerPort.ingest calls. */
  readonly ingest = (p: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean }): Promise<void> | undefined => {
    this.submitted++;
    const msg: Message = {
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      retain: p.retain,
      source: { kind: 'internal', id: 'control' },
      receivedAt: Date.now(),
    };
    return this.intake.submit(msg);
  };

  protected details(): Record<string, unknown> {
    return { submitted: this.submitted };
  }
}
