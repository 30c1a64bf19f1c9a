// Tracks durable work in flight (the commits a PUBACK, serial ACK or file offset waits for), so
// shutdown can wait for it (Ingest.drain). Not to be confused with broker/inflight.ts (MQTT QoS
// packets in flight).
//
// A count, not a set of promises: track() runs once per message on the hot path, and drain()
// only needs to know when the count reaches zero. One shared settle callback instead of a closure
// and a Set entry per message (issue 15, CPU per message).
export class InFlightCommits {
  private count = 0;
  /** drain() calls waiting for the count to reach zero. */
  private readonly zeroWaiters: Array<() => void> = [];
  private readonly settled = (): void => {
    if (--this.count === 0) for (const wake of this.zeroWaiters.splice(0)) wake();
  };

  get size(): number {
    return this.count;
  }

  track(p: Promise<void>): Promise<void> {
    this.count++;
    p.then(this.settled, this.settled);
    return p;
  }

  /** Resolves true when everything tracked so far and since settled, false after timeoutMs. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    let wake: (() => void) | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    });
    const all = new Promise<boolean>((r) => {
      wake = () => r(true);
      this.zeroWaiters.push(wake);
    });
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
      const i = wake === undefined ? -1 : this.zeroWaiters.indexOf(wake);
      if (i >= 0) this.zeroWaiters.splice(i, 1);
    }
  }
}
