// The input log and the meta area of the store (where rule state is checkpointed) in memory, for
// tests of the rules engine that step through the moment a write commits: a real store's cannot be
// chosen. A test double: each test using it says so in its header comment.
import type { InputLog, InputLogRecord } from '../../rules/windows/input-log.js';

/** The input log and the meta area (checkpoints) in memory; writes are held while `hold` is set. */
export class MemoryLog implements InputLog {
  readonly maxBytes: number | undefined;
  log: InputLogRecord[] = [];
  lastSeq = 0;
  releasedSeq = 0;
  meta = new Map<string, Buffer>();
  hold = false;
  private held: Array<() => void> = [];
  constructor(maxBytes?: number) {
    this.maxBytes = maxBytes;
  }
  async append(topic: string, payload: Buffer, receivedAt: number): Promise<number> {
    const seq = ++this.lastSeq;
    this.log.push({ seq, topic, payload: Buffer.from(payload), receivedAt });
    return seq;
  }
  async read(fromSeq: number, limit: number): Promise<InputLogRecord[]> {
    return this.log.filter((r) => r.seq >= fromSeq).slice(0, limit);
  }
  async released(): Promise<number> {
    return this.releasedSeq;
  }
  async release(seq: number): Promise<void> {
    this.releasedSeq = Math.max(this.releasedSeq, seq);
  }
  commitMeta(key: string, value: Buffer): Promise<void> {
    const copy = Buffer.from(value);
    const apply = (): void => void this.meta.set(key, copy);
    if (!this.hold) return Promise.resolve(apply());
    return new Promise<void>((resolve) => this.held.push(() => resolve(apply())));
  }
  async getMeta(key: string): Promise<Buffer | undefined> {
    return this.meta.get(key);
  }
  get heldWrites(): number {
    return this.held.length;
  }
  /** Commit the held writes (their promises resolve now) and write the next ones at once. */
  commitHeld(): void {
    this.hold = false;
    for (const w of this.held.splice(0)) w();
  }
}
