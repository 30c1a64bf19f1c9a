// Commit pacing (store.commitDelayMs, docs/store.md "Commit pacing", issue 15): how long the group
// commit waits for more appends before its one write + fsync. Each commit costs one fsync, i.e. at
// least one flash page program on an SD card. When appends arrive concurrently (some arrived while
// the last commit was being written, or it held more than one), the next commit waits until its
// oldest append is commitDelayMs old, so a steady stream makes at most ~1000/commitDelayMs
// commits/s of many records each. It commits at once when nothing suggests company (a lone writer
// awaiting each append pays no delay), when the batch already holds PACE_MAX_BYTES (high rates),
// or when the oldest append already waited that long (the previous commit was slower than the
// window: at full speed commits run back to back). The window only delays the write: an append
// still resolves after the fsync of the batch holding it.
//
// Apart from committer.ts so the policy (when to write) reads in one place, away from the
// mechanics of a commit (what is written, how appends resolve).

/** A paced batch this large commits at once (high rates need no window to fill their commits). */
export const PACE_MAX_BYTES = 32 * 1024;
/** commitDelayMs when not configured and durability is fsync. */
export const DEFAULT_COMMIT_DELAY_MS = 7;
/** After this long without commits, arrivals no longer count as concurrent. */
const PACE_IDLE_MS = 100;

export class CommitPacer {
  /** performance.now() when the oldest pending append was enqueued. */
  private firstPendingAt = 0;
  /** A db.batch of appends is being written. */
  private writing = false;
  /** Appends arrived concurrently during the last commit cycle: the next one may wait for company. */
  private concurrent = false;
  private lastCommitEnd = 0;
  /** The store closes: no more pacing waits. */
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly done = (): void => {
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  };
  /** Commits that waited for the pacing window (tests, docs/store.md). */
  pacedCommits = 0;

  /** commitDelayMs: 0 = never wait (durability 'os' by default: a commit costs no fsync). */
  constructor(private readonly delayMs: number) {}

  /** An append was queued; `first`: the pending queue was empty before it. */
  enqueued(first: boolean): void {
    if (first) this.firstPendingAt = performance.now();
    if (this.writing) this.concurrent = true;
  }

  /**
   * Wait (if the policy says so) before the next commit. `pendingBytes`: encoded bytes pending;
   * `held`: appends wait for queue space (waiting would only hold them back).
   */
  wait(pendingBytes: number, held: boolean): Promise<void> | undefined {
    const ms = this.waitMs(pendingBytes, held);
    if (ms <= 0) return undefined;
    this.pacedCommits++;
    return new Promise<void>((r) => {
      this.wake = r;
      this.timer = setTimeout(this.done, ms);
    });
  }

  private waitMs(pendingBytes: number, held: boolean): number {
    if (this.delayMs <= 0 || this.closing || pendingBytes === 0) return 0;
    const now = performance.now();
    if (!this.concurrent || now - this.lastCommitEnd > PACE_IDLE_MS) return 0;
    // Full enough, or appends wait for queue space.
    if (pendingBytes >= PACE_MAX_BYTES || held) return 0;
    return Math.max(0, this.firstPendingAt + this.delayMs - now);
  }

  /** A commit of `records` appends starts its write. */
  writeStarts(records: number): void {
    this.writing = records > 0;
    this.concurrent = records > 1;
  }

  /** The write ended (written or failed). */
  writeEnded(): number {
    this.writing = false;
    this.lastCommitEnd = performance.now();
    return this.lastCommitEnd;
  }

  /** Commit now instead of at the end of the window (the batch filled, or appends are held back). */
  endWait(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.done();
  }

  /** Stop pacing for good (close: the pending appends are written at once). */
  hurry(): void {
    this.closing = true;
    this.endWait();
  }
}
