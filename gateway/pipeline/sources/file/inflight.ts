// The in-flight byte bound of a file source: bytes read and submitted but not yet committed. Reading
// pauses while they reach maxInFlightBytes or the intake does not accept writes, so a full or slow
// store slows the reader down instead of letting it buffer without bound.
export class InFlight {
  private bytesNow = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private waiters: Array<() => void> = [];

  constructor(
    private readonly maxBytes: number,
    /** The intake takes writes (false while the disk is full or the store closed). */
    private readonly accepting: () => boolean,
    private readonly stopping: () => boolean,
  ) {}

  get bytes(): number {
    return this.bytesNow;
  }

  /** Count `bytes` in flight until `done` (the chunk's submits and its offset commit) settles. */
  track(done: Promise<unknown>, bytes: number): void {
    this.bytesNow += bytes;
    const p = done.finally(() => {
      this.bytesNow -= bytes;
      this.pending.delete(p);
      this.wake();
    });
    this.pending.add(p);
    p.catch(() => undefined);
  }

  /** Resolves once there is room to read more (or the source stops): true when it had to wait. */
  async waitForRoom(): Promise<boolean> {
    let waited = false;
    while (!this.stopping() && (this.bytesNow >= this.maxBytes || !this.accepting())) {
      waited = true;
      if (this.pending.size === 0) {
        // Not accepting and nothing in flight: look again shortly (the store reports recovery by state only).
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return waited;
  }

  /** At stop: wait for everything in flight to settle, and release readers waiting for room. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
