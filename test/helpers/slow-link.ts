// A slow uplink for tests and benches: a TCP proxy to a local port that carries the client's bytes
// at a fixed rate (what it cannot send yet waits in its queue, unbounded, as in a cellular modem's
// buffer) and the server's answers at once. Written here: no Debian tool shapes one connection's
// bytes without root (tc needs it and shapes an interface).
import { createServer, connect as tcp, type Socket } from 'node:net';

/** A TCP proxy to `port` that carries client-to-server bytes at `bps` (queued, unbounded) and the answers at once. */
export class SlowLink {
  readonly sockets = new Set<Socket>();
  /** Client-to-server bytes carried so far (all connections). */
  carried = 0;
  private readonly queues = new Set<Buffer[]>();
  private readonly server = createServer((c) => this.pipe(c));

  constructor(
    private readonly port: number,
    private readonly bps: number,
  ) {}

  /** Listen on `port` (0: one the kernel picks); resolves with the port listened on. */
  async listen(port: number): Promise<number> {
    this.server.listen(port, '127.0.0.1');
    await new Promise<void>((r) => this.server.once('listening', () => r()));
    return (this.server.address() as { port: number }).port;
  }

  /** Bytes waiting in the link's queues. */
  get queued(): number {
    let n = 0;
    for (const q of this.queues) for (const b of q) n += b.length;
    return n;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private pipe(c: Socket): void {
    const b = tcp(this.port, '127.0.0.1');
    const q: Buffer[] = [];
    this.sockets.add(c).add(b);
    this.queues.add(q);
    b.pipe(c);
    c.on('data', (d: Buffer) => q.push(d));
    // Every 100 ms, a tenth of a second's bytes.
    const tick = setInterval(() => {
      let budget = Math.floor(this.bps / 10);
      while (budget > 0 && q.length > 0) {
        const head = q[0]!;
        const n = Math.min(budget, head.length);
        b.write(head.subarray(0, n));
        this.carried += n;
        if (n === head.length) q.shift();
        else q[0] = head.subarray(n);
        budget -= n;
      }
    }, 100);
    const end = (): void => {
      clearInterval(tick);
      this.queues.delete(q);
      this.sockets.delete(c);
      this.sockets.delete(b);
      c.destroy();
      b.destroy();
    };
    for (const s of [c, b]) {
      s.on('close', end);
      s.on('error', end);
    }
  }
}
