// Tracks durable work in flight (the commits a PUBACK, serial ACK or file offset waits for), so
// shutdown can wait for it (Ingest.drain). Not to be confused with broker/inflight.ts (MQTT QoS
// packets in flight).
export class InFlightCommits {
  private readonly pending = new Set<Promise<void>>();

  get size(): number {
    return this.pending.size;
  }

  track(p: Promise<void>): Promise<void> {
    this.pending.add(p);
    const done = (): void => {
      this.pending.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Resolves true when everything settled, false after timeoutMs. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    });
    const all = Promise.allSettled([...this.pending]).then(() => true);
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
