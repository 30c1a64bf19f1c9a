// One task at a time, and no request lost while it runs: a call made while a run is in flight gets
// a run that starts after it (at most one queued, shared by every such call). Why not the run in
// flight: it read its inputs before the reason for the call (a write failed, an input pressed the
// journal), so its answer may be stale; and a call that lands after the run's last look at its work,
// but before it settles, would be lost until something else asks (round 22's and 23's lost
// wake-ups). Used by the store's disk probe and the windows' checkpoints.

export class FollowUpRun {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly task: () => Promise<void>) {}

  /** A run that starts now, or once the one in flight has settled (one queued at most). */
  run(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.task().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    const next = (): Promise<void> => {
      this.queued = undefined;
      return this.run();
    };
    this.queued ??= this.running.then(next, next);
    return this.queued;
  }
}
