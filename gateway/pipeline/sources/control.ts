// Source `control` (built in, named 'control'): messages the gateway makes itself on the control
// plane (heartbeats, job reports) that also enter the rules, so an archive rule and the MQTT
// bridge exporter can carry them upstream. The control plane calls `ingest` (its LocalBrokerPort).
import type { Message } from '../../../core/message.js';
import type { Intake, Source, SourceStatus } from '../contract.js';
import { BoundIntake } from './bound-intake.js';

export class ControlSource implements Source {
  readonly kind = 'control';
  readonly name = 'control';
  private readonly intake = new BoundIntake(this.name);
  private submitted = 0;

  /** What control/channel.ts LocalBrokerPort.ingest calls. */
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
    return { kind: this.kind, name: this.name, state: this.running ? 'running' : 'stopped', details: { submitted: this.submitted } };
  }
}
