// The connection outages of a Modbus source, as the status, the counters and the log report them.
// An outage runs from the last answer before the loss to the first answer after it, not to the
// next TCP connect: the kernel of a frozen PLC (or a TCP gateway whose device is gone) completes
// the handshake and then never answers. Closed on the connect, one frozen PLC was reported as a
// "connection restored" warning, a gap and a 'running' state for every reconnect (a dozen in
// eight seconds). The answers also tell a half-open connection from a silent device (presumeHalfOpen).

export class Outages {
  /** Monotonic ms the open outage started (its last answer before the loss); undefined: none. */
  private lostAt: number | undefined;
  /** Monotonic ms of the last answer on the link. */
  private lastAnswer: number | undefined;
  /** An answer came since the last request timeout (presumeHalfOpen). */
  private answeredSinceTimeout = true;
  /** Outages closed so far (the status' `gaps`). */
  gaps = 0;

  constructor(
    private readonly mono: () => number,
    /** Called when an outage ends, with its length. */
    private readonly restored: (gapMs: number) => void,
  ) {}

  /** True while an outage of a link that once answered is open (until its next answer). */
  get open(): boolean {
    return this.lostAt !== undefined && this.lastAnswer !== undefined;
  }

  /**
   * True while the link answers: an answer came and no loss since. False before the first answer
   * too: a frozen PLC that accepts the connection at the gateway's start was shown `running`,
   * `connected` and up (gatehouse_source_up 1) while not one value was ever read.
   */
  get answering(): boolean {
    return this.lastAnswer !== undefined && this.lostAt === undefined;
  }

  /** The link was lost or could not be opened: the outage (if not open yet) starts at the last answer. */
  lost(): void {
    this.lostAt ??= this.lastAnswer ?? this.mono();
  }

  /** An answer on the link (values, an exception response, a write's echo): ends the open outage. */
  answered(): void {
    const now = this.mono();
    if (this.open) {
      this.gaps++;
      this.restored(now - (this.lostAt as number));
    }
    this.lostAt = undefined;
    this.lastAnswer = now;
    this.answeredSinceTimeout = true;
  }

  /**
   * A TCP request timed out: is the connection half-open (to be replaced) rather than the device
   * silent? Behind a TCP gateway, a dead unit id times out while the others answer: replacing the
   * connection for it cut every device off and counted a gap each time. So with several devices,
   * the connection is presumed dead only when nothing answered on it since the previous timeout.
   */
  presumeHalfOpen(devices: number): boolean {
    const dead = devices === 1 || !this.answeredSinceTimeout;
    this.answeredSinceTimeout = false;
    return dead;
  }
}
