// The MQTT source's acknowledgements: a QoS 1 PUBACK goes out only once the message's commit has
// resolved, in the order the publishes arrived (MQTT 3.1.1 4.6, MQTT 5 4.6: PUBACKs in order),
// while up to `window` messages are in flight, so one commit (one fsync) takes many messages.
//
// Invariants:
// - ack(k) is called only after the commits of k and of every message before it (same connection)
//   resolved; a refusal stops every later ack of that connection (they would overtake it), and the
//   connection is dropped by the caller so the broker delivers them again.
// - After reset() (a new connection), nothing of the previous connection is acknowledged: the
//   broker redelivers those messages in the resumed session (at least once).
// - At most `window` messages are in flight; past it, reading waits (`next` is held), which is the
//   backpressure on the socket. (The broker's own window, receive maximum / max_inflight, bounds
//   QoS 1 well below it; QoS 0 has none.)

export class AckPipeline {
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private generation = 0;

  constructor(private readonly window: number) {}

  /** A new connection (or a stop): acks still pending for the previous one are never sent. */
  reset(): void {
    this.generation++;
  }

  /** Messages whose commit or ack is still pending. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * One QoS 1 message: `committed` is its commit (undefined: nothing durable came of it). `ack`
   * sends its PUBACK (in order, same connection only); `refused` is told once when a commit fails
   * (later acks of that connection are dropped); `next` lets the client read on (held while the
   * window is full).
   */
  acknowledged(committed: Promise<void> | undefined, ack: () => void, refused: (err: unknown) => void, next: () => void): void {
    const gen = this.generation;
    const step = this.chain
      .then(() => committed)
      .then(
        () => {
          if (gen === this.generation) ack();
        },
        (err: unknown) => {
          if (gen !== this.generation) return;
          this.generation++;
          refused(err);
        },
      );
    this.chain = step;
    this.track(step, next);
  }

  /** One QoS 0 message: nothing to acknowledge, only the window; `done` once committed, `failed` when refused. */
  unacknowledged(committed: Promise<void> | undefined, done: () => void, failed: (err: unknown) => void, next: () => void): void {
    if (committed === undefined) {
      done();
      return next();
    }
    this.track(committed.then(done, failed), next);
  }

  private track(settled: Promise<void>, next: () => void): void {
    // Waiting messages are in flight too (received, submitted), but hold no reading slot.
    this.inFlight++;
    if (this.inFlight - this.waiting.length <= this.window) next();
    else this.waiting.push(next);
    void settled.finally(() => {
      this.inFlight--;
      if (this.inFlight - this.waiting.length < this.window) this.waiting.shift()?.();
    });
  }
}
