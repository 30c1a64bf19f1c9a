// The engine's side of the input log (input-log.ts): numbers and appends the inputs of stateful
// rules, finds the log position a checkpoint round covers (so the log is reclaimed behind it), and
// reads the log back at start for the replay.
//
// Positions: a checkpoint records the input NUMBER it covers, not a sequence, because the state
// already holds an input whose append is still in flight when the snapshot is taken (its sequence
// is not known yet), and a failed append consumes no sequence. Sequences are only used to reclaim:
// once a round's checkpoints are written (commitMeta: in the group commit after every append
// submitted before them), every input numbered up to the round's cover has settled, and the
// largest sequence among them is released.
import type { Message } from '../../core/message.js';
import { decodeInput, encodeInput, type InputLog, type LoggedInput } from './input-log.js';

const META_INPUT_NO = 'rules/input-no';
const READ_BATCH = 512;

/** A checkpoint round: the input number it covers and the largest sequence seen at or below it. */
export interface Round {
  cover: number;
  seq: number;
}

export class InputJournal {
  /** Last input number given out. */
  inputNo = 0;
  private resolvedNo = 0;
  private resolvedSeq = 0;
  private releasedSeq = 0;
  private round: Round | undefined;
  /** Bytes appended since the last round began (what the next round will reclaim). */
  private bytesSinceRound = 0;
  private pressureAsked = false;
  readonly counts = { appended: 0, failed: 0, replayed: 0, corrupt: 0 };
  /**
   * Called once a quarter of the log's byte bound was appended since the last round: the host
   * checkpoints at once, rather than let a long ruleState.checkpointIntervalMs fill the log (a full
   * log holds every acknowledgement of a stateful rule until the next checkpoint).
   */
  onPressure: (() => void) | undefined;

  constructor(readonly log: InputLog) {}

  /** Log one message whose state changes were just applied; resolves once it is committed. */
  append(msg: Message, at: number): Promise<void> {
    const no = ++this.inputNo;
    this.counts.appended++;
    const record = encodeInput({ no, at, message: msg });
    this.bytesSinceRound += record.length + msg.topic.length;
    const max = this.log.maxBytes;
    if (max !== undefined && !this.pressureAsked && this.bytesSinceRound > max / 4) {
      this.pressureAsked = true;
      this.onPressure?.();
    }
    return this.log.append(msg.topic, record, msg.receivedAt).then(
      (seq) => {
        if (no > this.resolvedNo) {
          this.resolvedNo = no;
          this.resolvedSeq = seq;
        }
        const r = this.round;
        if (r && no <= r.cover && seq > r.seq) r.seq = seq;
      },
      (err: unknown) => {
        this.counts.failed++;
        throw err;
      },
    );
  }

  /** Start a round at the current input number (call synchronously with the snapshots). */
  beginRound(): Round {
    // Every append resolved so far carries a number <= inputNo: its sequence is covered.
    const r = { cover: this.inputNo, seq: this.resolvedNo <= this.inputNo ? this.resolvedSeq : 0 };
    this.round = r;
    this.bytesSinceRound = 0;
    this.pressureAsked = false;
    return r;
  }

  /** The counter written with a round's checkpoints (input numbers never repeat across restarts). */
  counterMeta(): [string, Buffer] {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(this.inputNo);
    return [META_INPUT_NO, b];
  }

  /** The round's checkpoints are durable: reclaim the log behind it. */
  async endRound(r: Round): Promise<void> {
    if (this.round === r) this.round = undefined;
    if (r.seq > this.releasedSeq) {
      await this.log.release(r.seq);
      this.releasedSeq = r.seq;
    }
  }

  /** Abandon a round whose checkpoints failed (the log keeps what they should have covered). */
  dropRound(r: Round): void {
    if (this.round === r) this.round = undefined;
  }

  /** Start-up: the counter and the reclaim position. */
  async open(): Promise<void> {
    const b = await this.log.getMeta(META_INPUT_NO);
    if (b && b.length === 8) this.inputNo = Math.max(this.inputNo, b.readDoubleBE(0));
    this.releasedSeq = await this.log.released();
  }

  /** Every logged input behind the reclaim position, in order (corrupt records skipped, counted). */
  async *replay(onCorrupt: (err: unknown) => void): AsyncGenerator<LoggedInput> {
    let from = this.releasedSeq + 1;
    for (;;) {
      const recs = await this.log.read(from, READ_BATCH);
      if (recs.length === 0) return;
      for (const rec of recs) {
        from = rec.seq + 1;
        let input: LoggedInput;
        try {
          input = decodeInput(rec);
        } catch (err) {
          this.counts.corrupt++;
          onCorrupt(err);
          continue;
        }
        if (input.no > this.inputNo) this.inputNo = input.no;
        this.resolvedNo = input.no;
        this.resolvedSeq = rec.seq;
        this.counts.replayed++;
        yield input;
      }
    }
  }
}
