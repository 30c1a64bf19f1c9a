// The order of rule set updates (RuleHost): applies, rollbacks, toggles and confirmations run one
// at a time, in the order asked for, so two never interleave (a failed one does not stop the
// next); work that must not run beside an update (a stream drop) takes its turn in the same queue.
// Once the holder stops, every update asked for is refused at once with GH_STORE_CLOSED, and the
// stop waits for those queued before it, and only those: a later one (a SIGHUP reload or a PUT
// /api/rules while the gateway stopped) ran beside the final checkpoint and after it, on the
// stopped engine (the window timers of its rules started again) and on a store being closed.
import type { RuleUpdateStatus } from '../control/rule-set-target.js';

export class UpdateQueue {
  /** The last update queued: the next one runs after it. */
  private tail: Promise<unknown> = Promise.resolve();
  /** close() was called: updates are refused from then on. */
  private stopping = false;

  /** Refuse every update asked for from now on (the holder stops). */
  close(): void {
    this.stopping = true;
  }

  /** Settles once every update queued so far has run (failed or not). */
  drained(): Promise<unknown> {
    return this.tail.catch(() => undefined);
  }

  /**
   * Updates run one at a time, in order (a failed one does not stop the next). Once close() was
   * called, refused at once (not reported: the control plane has stopped, and the last update
   * attempt stays the last one that ran): nothing would run it, and the store is closing.
   */
  serial(run: () => Promise<RuleUpdateStatus>, source: string, version: () => number | undefined): Promise<RuleUpdateStatus> {
    if (this.stopping) {
      const message = 'the gateway is stopping: nothing was changed; send the update again once it runs';
      return Promise.resolve({
        state: 'rejected',
        version: version(),
        source,
        at: Date.now(),
        errors: [{ rule: '', where: '', message }],
        code: 'GH_STORE_CLOSED',
      });
    }
    const p = this.tail.then(run, run);
    this.tail = p;
    return p;
  }

  /**
   * Run `work` between two updates: none runs while it does, and one asked for meanwhile waits
   * for it. A stream drop (admin/stream-drop.ts) checks that no rule writes the stream and drops it
   * as one step, so an update adding a rule that writes it comes before (the drop is refused) or
   * after (the update is refused: the stream is gone), never between.
   */
  whileNoUpdate<T>(work: () => Promise<T>): Promise<T> {
    const p = this.tail.then(work, work);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
