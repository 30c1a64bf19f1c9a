// Writes an exporter's checkpoint behind its sends: at most one write in flight, later targets
// coalesce into the next write. A lagging checkpoint only means resends after a crash
// (at-least-once), never a skipped record. A failed write is retried on a timer.
import type { LocalStreams } from '../store/types.js';

export class CheckpointWriter {
  /** Durable checkpoint (what the store has). */
  durable = 0;
  /** Checkpoint reached by the loop (>= durable). */
  wanted = 0;
  private inflight: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private active = false;

  constructor(
    private readonly streams: LocalStreams,
    private readonly stream: string,
    private readonly consumer: string,
    private readonly retryMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Start from the stored checkpoint. */
  reset(durable: number): void {
    this.durable = durable;
    this.wanted = durable;
    this.active = true;
  }

  /** The loop reached `seq`: write it soon. */
  advance(seq: number): void {
    if (seq <= this.wanted) return;
    this.wanted = seq;
    void this.write();
  }

  private write(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (this.wanted <= this.durable) return Promise.resolve(true);
    const target = this.wanted;
    this.inflight = this.streams.setCheckpoint(this.stream, this.consumer, target).then(
      () => {
        this.durable = target;
        this.inflight = undefined;
        if (this.wanted > target) void this.write();
        return true;
      },
      (err: unknown) => {
        this.inflight = undefined;
        this.onError(err);
        clearTimeout(this.retryTimer);
        if (this.active) {
          this.retryTimer = setTimeout(() => void this.write(), this.retryMs);
          this.retryTimer.unref();
        }
        return false;
      },
    );
    return this.inflight;
  }

  /** Wait until the reached checkpoint is durable (or a write fails), then stop retrying. */
  async flush(): Promise<void> {
    while (this.wanted > this.durable) {
      if (!(await this.write())) break;
    }
    this.active = false;
    clearTimeout(this.retryTimer);
  }
}
