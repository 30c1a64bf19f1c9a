// The bytes of one frame being read (syslog over TCP: framing.ts; RELP: relp-frames.ts), kept up
// to maxBytes: what comes beyond is thrown away and the frame marked truncated, so a sender that
// announces or sends a huge message costs at most maxBytes of memory.
export class BoundedBytes {
  private parts: Buffer[] = [];
  private have = 0;
  private cut = false;

  constructor(private readonly maxBytes: number) {}

  /** Bytes kept so far. */
  get length(): number {
    return this.have;
  }

  append(b: Buffer): void {
    const room = this.maxBytes - this.have;
    if (b.length > room) this.cut = true;
    if (room <= 0 || b.length === 0) return;
    // a copy: a slice would hold the whole socket chunk for as long as the message waits for its commit
    const kept = Buffer.from(b.subarray(0, Math.min(room, b.length)));
    this.parts.push(kept);
    this.have += kept.length;
  }

  /** The bytes kept and whether any were thrown away; empty again after. */
  take(): { bytes: Buffer; truncated: boolean } {
    const out = { bytes: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.have), truncated: this.cut };
    this.parts = [];
    this.have = 0;
    this.cut = false;
    return out;
  }
}
