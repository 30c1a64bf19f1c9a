// Acknowledged mode of one serial link: where the sequence number lives (3-byte header or a field
// of the decoded object), the dedup window of committed sequence numbers, the ACK/NAK replies and
// the CMD header of downlink writes. Wire format: protocol.ts and docs/firmware-protocol.md.
import type { Counter } from 'prom-client';
import type { Decoded } from './codecs/index.js';
import type { Framing } from './framing/index.js';
import type { SerialLinkOptions } from './options.js';
import { HEADER_BYTES, KIND_ACK, KIND_CMD, KIND_DATA, KIND_NAK, MAX_FIELD_SEQ, header, textReply } from './protocol.js';
import type { WriteQueue } from './writer.js';

export type AckMode = 'off' | 'header' | 'field';

/**
 * Header mode: a frame split into its sequence number and codec bytes, or why it is not a DATA
 * frame. `answer` is the SEQ to ACK (so the device can drop a frame that will never be stored), or
 * -1 when the frame has none, or is of a kind the gateway sends itself (a line that echoes would
 * otherwise have the gateway answer its own ACKs forever).
 */
export type HeaderFrame = { ok: true; seq: number; body: Buffer } | { ok: false; error: string; answer: number };

const GATEWAY_KINDS: ReadonlyMap<number, string> = new Map([
  [KIND_ACK, 'ACK'],
  [KIND_NAK, 'NAK'],
  [KIND_CMD, 'CMD'],
]);

export function splitHeader(frame: Buffer): HeaderFrame {
  if (frame.length === 0) return { ok: false, error: 'empty frame (no acknowledged-mode header)', answer: -1 };
  const kind = frame[0]!;
  const hex = `0x${kind.toString(16).padStart(2, '0')}`;
  if (frame.length < HEADER_BYTES) {
    const what = kind === KIND_DATA ? 'DATA frame' : `frame of kind ${hex}`;
    return { ok: false, error: `${what} of ${frame.length} byte(s), shorter than the ${HEADER_BYTES}-byte header`, answer: -1 };
  }
  const seq = frame.readUInt16BE(1);
  if (kind === KIND_DATA) return { ok: true, seq, body: frame.subarray(HEADER_BYTES) };
  const own = GATEWAY_KINDS.get(kind);
  if (own) return { ok: false, error: `${own} frame (kind ${hex}, seq ${seq}) from the device: only the gateway sends these; not answered`, answer: -1 };
  // Most often the device doesn't send the header at all (its payload's first byte read as KIND).
  return {
    ok: false,
    error: `frame of unknown kind ${hex} (seq ${seq}), not DATA (0x44): if every frame says this, the device sends no acknowledged-mode header; set ack.enabled: false or ack.mode: field for it`,
    answer: seq,
  };
}

/** The effective mode ('auto' resolved by the framing). Header mode on a text framing is refused by the options schema. */
export function resolveAckMode(o: SerialLinkOptions, framing: Framing): AckMode {
  if (!o.ack.enabled) return 'off';
  if (o.ack.mode === 'auto') return framing.binarySafe ? 'header' : 'field';
  return o.ack.mode;
}

export class Acknowledger {
  /** Sequence field name in 'field' mode. */
  readonly field: string;
  /** Bounded memory of committed sequence numbers: a Set for lookup, a ring for eviction order. */
  private readonly dedup: { set: Set<number>; ring: number[]; pos: number } | null;
  /**
   * With the dedup window: sequence numbers handed on and not committed (or failed) yet. A resend
   * of one (the commit took longer than the device's ACK timeout) is a duplicate too: the window
   * only learns a number at its commit, and the resend was handed on again and stored twice.
   */
  private readonly pending: Set<number> | null;
  private cmdSeq = 0;

  constructor(
    readonly mode: AckMode,
    o: SerialLinkOptions,
    private readonly link: string,
    private readonly framing: Framing,
    private readonly writer: WriteQueue,
    private readonly acks: Counter<'link' | 'kind'>,
    private readonly duplicates: { inc(): void },
  ) {
    this.field = o.ack.field;
    this.dedup = o.ack.enabled && o.ack.dedupWindow > 0 ? { set: new Set(), ring: new Array<number>(o.ack.dedupWindow).fill(-1), pos: 0 } : null;
    this.pending = this.dedup ? new Set() : null;
  }

  /**
   * 'field' mode: the frame's sequence number, or -1 when the field is missing or not an integer
   * in 0..MAX_FIELD_SEQ. Beyond 2^53-1 a JSON number is rounded, so the ACK would name a number
   * the device never sent.
   */
  fieldSeq(obj: Decoded): number {
    const s = obj[this.field];
    return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 && s <= MAX_FIELD_SEQ ? s : -1;
  }

  /**
   * A resent frame already committed: counted and acknowledged again; or one whose first copy is
   * still being committed: counted, and answered by that copy's ACK or NAK. Not handed on twice.
   */
  duplicate(seq: number): boolean {
    if (this.pending?.has(seq)) {
      this.duplicates.inc();
      return true;
    }
    if (!this.dedup?.set.has(seq)) return false;
    this.duplicates.inc();
    this.reply(true, seq);
    return true;
  }

  /** The frame was handed on; its commit is pending (committed() or failed() follows). */
  handedOn(seq: number): void {
    this.pending?.add(seq);
  }

  /** The frame's commit failed: NAK it (the device resends it, handed on again). */
  failed(seq: number): void {
    this.pending?.delete(seq);
    this.reply(false, seq);
  }

  /** The frame's records are committed: remember the sequence number and ACK it. */
  committed(seq: number): void {
    this.pending?.delete(seq);
    const d = this.dedup;
    if (d) {
      const old = d.ring[d.pos]!;
      if (old >= 0) d.set.delete(old);
      d.ring[d.pos] = seq;
      d.set.add(seq);
      d.pos = (d.pos + 1) % d.ring.length;
    }
    this.reply(true, seq);
  }

  reply(ok: boolean, seq: number): void {
    const payload = this.mode === 'header' ? header(ok ? KIND_ACK : KIND_NAK, seq) : textReply(ok, seq);
    const kind = ok ? 'ack' : 'nak';
    this.writer.writeReply(this.framing.encode(payload)).then(
      () => this.acks.inc({ link: this.link, kind }),
      // Lost ACKs are fine: the firmware resends and the frame is handed on again (at-least-once).
      () => this.acks.inc({ link: this.link, kind: 'dropped' }),
    );
  }

  /** Downlink body: prefixed with a CMD header (next 16-bit sequence) in header mode, else as is. */
  command(body: Buffer): Buffer {
    if (this.mode !== 'header') return body;
    this.cmdSeq = (this.cmdSeq + 1) & 0xffff;
    return header(KIND_CMD, this.cmdSeq, body);
  }
}
