// Sockets that have not sent CONNECT yet ("pre-CONNECT"): bounded per source address and overall.
//
// A silent socket costs a file descriptor and a parser, and before this guard 1,200 of them
// pushed a legitimate device past the listener's connection cap (closed, no CONNACK, nothing
// logged). Pre-CONNECT sockets do not count against maxConnections; when there are more than
// either limit allows, the OLDEST pre-CONNECT sockets (of that address, else overall) are closed,
// so a fresh device that sends its CONNECT promptly always gets in. Every socket also has
// connectTimeoutMs to send CONNECT: on plain listeners the protocol sniffer or aedes closes it
// after that; a TLS listener's TCP socket is admitted at accept with a deadline here, so the TLS
// handshake counts against the same time (tls.Server only bounds the handshake itself).
//
// The limits are enforced `graceMs` after they are exceeded, not at accept: a burst of honest
// clients (a fleet reconnecting after a gateway restart) is accepted in one go before any of their
// CONNECTs is read, and shedding at accept would close sockets whose CONNECT is already on its
// way. Meanwhile the listener's own cap (maxConnections + maxPendingConnections + 64) bounds them.
import type { Socket } from 'node:net';

export interface PreConnectLimits {
  /** Pre-CONNECT sockets overall. */
  maxPending: number;
  /** Pre-CONNECT sockets from one source address. */
  maxPendingPerAddress: number;
}

export type ShedReason = 'address' | 'total';

/** A time limit for one pending socket: past it the socket is closed (after onExpire). */
export interface PendingDeadline {
  ms: number;
  onExpire(socket: Socket, address: string): void;
}

export class PreConnectGuard {
  /** Insertion order = age: the first entry is the oldest. */
  private readonly all = new Set<Socket>();
  private readonly byAddress = new Map<string, Set<Socket>>();
  private readonly addressOf = new WeakMap<Socket, string>();
  private readonly deadlines = new Map<Socket, NodeJS.Timeout>();

  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: PreConnectLimits,
    private readonly onShed: (socket: Socket, reason: ShedReason, address: string) => void,
    private readonly graceMs = 100,
  ) {}

  get size(): number {
    return this.all.size;
  }

  /**
   * A new socket: track it; over a limit, shed the oldest pending sockets after the grace time.
   * With a deadline, a socket still pending after deadline.ms is closed.
   */
  admit(socket: Socket, address = 'unknown', deadline?: PendingDeadline): void {
    let mine = this.byAddress.get(address);
    if (!mine) {
      mine = new Set();
      this.byAddress.set(address, mine);
    }
    mine.add(socket);
    this.all.add(socket);
    this.addressOf.set(socket, address);
    if (deadline) {
      const timer = setTimeout(() => {
        if (!this.all.has(socket)) return;
        this.release(socket);
        deadline.onExpire(socket, address);
        socket.destroy();
      }, deadline.ms);
      timer.unref();
      this.deadlines.set(socket, timer);
    }
    if ((mine.size > this.limits.maxPendingPerAddress || this.all.size > this.limits.maxPending) && !this.timer) {
      this.timer = setTimeout(() => this.enforce(), this.graceMs);
      this.timer.unref();
    }
  }

  /** Shed the oldest pending sockets until every limit holds. */
  enforce(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const mine of [...this.byAddress.values()]) {
      while (mine.size > this.limits.maxPendingPerAddress) this.shed(mine.values().next().value!, 'address');
    }
    while (this.all.size > this.limits.maxPending) this.shed(this.all.values().next().value!, 'total');
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const t of this.deadlines.values()) clearTimeout(t);
    this.deadlines.clear();
  }

  /** The socket sent CONNECT (or closed): it no longer counts here. */
  release(socket: Socket): void {
    if (!this.all.delete(socket)) return;
    const deadline = this.deadlines.get(socket);
    if (deadline) {
      clearTimeout(deadline);
      this.deadlines.delete(socket);
    }
    const address = this.addressOf.get(socket)!;
    const mine = this.byAddress.get(address);
    if (mine) {
      mine.delete(socket);
      if (mine.size === 0) this.byAddress.delete(address);
    }
  }

  private shed(socket: Socket, reason: ShedReason): void {
    const address = this.addressOf.get(socket) ?? 'unknown';
    this.release(socket);
    this.onShed(socket, reason, address);
    socket.destroy();
  }
}
