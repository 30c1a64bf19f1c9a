// The in-flight bound of a file source: bytes (and records) read and submitted but not yet committed.
// Reading pauses while they reach maxInFlightBytes (MAX_IN_FLIGHT_RECORDS) or the intake does not accept writes, so a full or slow
// store slows the reader down instead of letting it buffer without bound.
/**
 * Records in flight at most, besides maxInFlightBytes: a record queued ahead of the store costs a
 * few hundred bytes of heap whatever its size (8 MiB of 20-byte lines were 400,000 records, 144 MB
 * of live heap). A chunk is emitted RECORDS_PER_EMIT records at a time (read-loop.ts), so the bound
 * holds within a few of those per open file.
 */
export const MAX_IN_FLIGHT_RECORDS = 8192;
export const RECORDS_PER_EMIT = 256;

export class InFlight {
  private bytesNow = 0;
  private recordsNow = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private waiters: Array<() => void> = [];

  constructor(
    private readonly maxBytes: number,
    /** The intake takes writes (false while the disk is full or the store closed). */
    private readonly accepting: () => boolean,
    private readonly stopping: () => boolean,
    private readonly maxRecords = MAX_IN_FLIGHT_RECORDS,
  ) {}

  get bytes(): number {
    return this.bytesNow;
  }

  /** Records in flight now. */
  get records(): number {
    return this.recordsNow;
  }

  /** Count `bytes` and `records` in flight until `done` (the chunk's submits and its offset commit) settles. */
  track(done: Promise<unknown>, bytes: number, records = 0): void {
    this.bytesNow += bytes;
    this.recordsNow += records;
    const p = done.finally(() => {
      this.bytesNow -= bytes;
      this.recordsNow -= records;
      this.pending.delete(p);
      this.wake();
    });
    this.pending.add(p);
    p.catch(() => undefined);
  }

  /** Resolves once there is room to read more (or the source stops): true when it had to wait. */
  async waitForRoom(): Promise<boolean> {
    let waited = false;
    while (!this.stopping() && (this.bytesNow >= this.maxBytes || this.recordsNow >= this.maxRecords || !this.accepting())) {
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
