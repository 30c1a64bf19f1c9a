// What the built-in internal sources (control, republish) share: a name that is also their kind,
// an intake bound at start, and a running flag for their status.
import type { Intake, Source, SourceStatus } from '../contract.js';
import { BoundIntake } from './bound-intake.js';

export abstract class InternalSource implements Source {
  readonly kind: string;
  protected readonly intake: BoundIntake;
  private running = false;

  constructor(readonly name: string) {
    this.kind = name;
    this.intake = new BoundIntake(name);
  }

  /** Kind-specific counters for status(). */
  protected abstract details(): Record<string, unknown>;

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
    return { kind: this.kind, name: this.name, state: this.running ? 'running' : 'stopped', details: this.details(), builtIn: true };
  }
}
