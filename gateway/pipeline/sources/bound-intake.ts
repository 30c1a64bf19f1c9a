// The intake a built-in source holds between start() and stop(). A message that arrives outside
// that window (none should: a source reads only while started) is refused, never dropped silently.
import { GatehouseError } from '../../../core/errors.js';
import type { Message } from '../../../core/message.js';
import type { Intake } from '../contract.js';

export class BoundIntake {
  private intake: Intake | undefined;

  constructor(private readonly sourceName: string) {}

  bind(intake: Intake): void {
    this.intake = intake;
  }

  unbind(): void {
    this.intake = undefined;
  }

  get bound(): boolean {
    return this.intake !== undefined;
  }

  submit(msg: Message): Promise<void> | undefined {
    if (!this.intake)
      return Promise.reject(
        new GatehouseError('GH_INTERNAL', `source '${this.sourceName}' received a message while not started`, { where: `sources.${this.sourceName}` }),
      );
    return this.intake.submit(msg);
  }
}
