// Sockets that have not sent CONNECT yet ("pre-CONNECT"): bounded per source address and overall.
//
// A silent socket costs a file descriptor and a parser, and before this guard 1,200 of them
// pushed a legitimate device past the listener's connection cap (closed, no CONNACK, nothing
// logged). Pre-CONNECT sockets do not count against maxConnections; when one more would exceed
// either limit, the OLDEST pre-CONNECT socket (of that address, else overall) is closed, so a
// fresh device that sends its CONNECT promptly always gets in. Every socket also has
// connectTimeoutMs to send CONNECT (aedes closes it after that).
import type { Socket } from 'node:net';

export interface PreConnectLimits {
  /** Pre-CONNECT sockets overall. */
  maxPending: number;
  /** Pre-CONNECT sockets from one source address. */
  maxPendingPerAddress: number;
}

export type ShedReason = 'address' | 'total';

export class PreConnectGuard {
  /** Insertion order = age: the first entry is the oldest. */
  private readonly all = new Set<Socket>();
  private readonly byAddress = new Map<string, Set<Socket>>();
  private readonly addressOf = new WeakMap<Socket, string>();

  constructor(
    private readonly limits: PreConnectLimits,
    private readonly onShed: (socket: Socket, reason: ShedReason, address: string) => void,
  ) {}

  get size(): number {
    return this.all.size;
  }

  /** A new socket: make room (shedding the oldest silent ones), then track it. */
  admit(socket: Socket, address = 'unknown'): void {
    let mine = this.byAddress.get(address);
    if (mine && mine.size >= this.limits.maxPendingPerAddress) this.shed(mine.values().next().value!, 'address');
    if (this.all.size >= this.limits.maxPending) this.shed(this.all.values().next().value!, 'total');
    mine = this.byAddress.get(address);
    if (!mine) {
      mine = new Set();
      this.byAddress.set(address, mine);
    }
    mine.add(socket);
    this.all.add(socket);
    this.addressOf.set(socket, address);
  }

  /** The socket sent CONNECT (or closed): it no longer counts here. */
  release(socket: Socket): void {
    if (!this.all.delete(socket)) return;
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
