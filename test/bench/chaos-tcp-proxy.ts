// A TCP fault proxy for the chaos bench's postgres upstream (chaos-upstream-postgres.ts): the
// gateway's postgres destination connects here, each connection is piped to the server, and the
// faults are the link's (the kinesis leg's proxy, chaos-kinesis-proxy.ts, plays HTTP answers; a
// database protocol has none to fake, so this one only cuts and holds bytes):
//   reset()     every open connection reset (RST to the gateway, the server's end closed): a
//               statement in flight may have committed or not;
//   armReset()  the next connection that sends an INSERT (the Parse message's text) has it
//               forwarded, then is reset 0-40 ms later: mid-query, the INSERT reached the server;
//   hold(how)   'answers': the gateway's bytes go on to the server, the server's answers are held
//               (the INSERT commits, the gateway never hears: it times out and sends again, the
//               key drops the resend); 'all': nothing goes either way (a link that went silent);
//   release()   ends a hold: the connections that held bytes are reset (as the other legs drop
//               their stalled sockets when the mode changes).
import { once } from 'node:events';
import net from 'node:net';

const INSERT = Buffer.from('INSERT INTO');

interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Held bytes, each way (dropped with the connection at release). */
  heldIn: number;
  heldOut: number;
}

export class TcpFaultProxy {
  port = 0;
  connections = 0;
  /** Connections reset by reset(), by an armed mid-query reset, at the end of a hold. */
  resets = 0;
  midQueryResets = 0;
  releasedResets = 0;
  /** Holds by kind. */
  holds = { answers: 0, all: 0 };
  private holding: 'none' | 'answers' | 'all' = 'none';
  private armed = false;
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();

  constructor(
    /** The server's port (it stays the same across its restarts). */
    private readonly target: () => number,
    private readonly rnd: () => number,
  ) {}

  get listening(): boolean {
    return this.server !== undefined;
  }

  async listen(port: number): Promise<void> {
    if (this.server) return;
    this.port = port;
    const srv = net.createServer((c) => this.accept(c));
    srv.listen(port, '127.0.0.1');
    await once(srv, 'listening');
    this.server = srv;
  }

  async close(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const p of this.pairs) this.cut(p);
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  /** Reset every open connection; how many there were. */
  reset(): number {
    let n = 0;
    for (const p of this.pairs) {
      this.cut(p);
      n++;
    }
    this.resets += n;
    return n;
  }

  armReset(): void {
    this.armed = true;
  }

  hold(how: 'answers' | 'all'): void {
    this.holding = how;
    this.holds[how]++;
  }

  release(): void {
    if (this.holding === 'none') return;
    this.holding = 'none';
    for (const p of this.pairs)
      if (p.heldIn > 0 || p.heldOut > 0) {
        this.cut(p);
        this.releasedResets++;
      }
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const server = net.connect({ host: '127.0.0.1', port: this.target() });
    const p: Pair = { client, server, heldIn: 0, heldOut: 0 };
    this.pairs.add(p);
    const gone = (): void => {
      this.pairs.delete(p);
      client.destroy();
      server.destroy();
    };
    client.on('error', gone).on('close', gone);
    server.on('error', gone).on('close', gone);
    client.on('data', (d: Buffer) => {
      if (this.holding === 'all') {
        p.heldIn += d.length;
        return;
      }
      server.write(d);
      if (this.armed && d.includes(INSERT)) {
        // An INSERT on its way (not the start-up, the login or the read of the table's columns).
        this.armed = false;
        this.midQueryResets++;
        setTimeout(() => this.cut(p), Math.floor(this.rnd() * 40)).unref();
      }
    });
    server.on('data', (d: Buffer) => {
      if (this.holding !== 'none') {
        p.heldOut += d.length;
        return;
      }
      client.write(d);
    });
  }

  private cut(p: Pair): void {
    this.pairs.delete(p);
    if (!p.client.destroyed) p.client.resetAndDestroy();
    p.server.destroy();
  }
}
