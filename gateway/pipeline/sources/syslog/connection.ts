// One TCP, TLS or RELP connection of a syslog source: its frames (framing.ts, or a RELP session's:
// relp-session.ts) handed to the source's take(), its timeouts (idle, a message begun and not
// ended), its pause while the source holds reading (too many commits waiting, a store refusing),
// and a TLS client on a plain port told apart by its first bytes.
import type { Socket } from 'node:net';
import { errorMessage } from '../../../../core/errors.js';
import type { RateLog } from '../../../../core/rate-log.js';
import { peerAddress } from '../../../broker/peer-address.js';
import { SyslogFramer } from './framing.js';
import type { Sender } from './message.js';
import type { SyslogCounts, Transport } from './metrics.js';
import type { SyslogSourceOptions } from './options.js';
import { RelpSession, type RelpOutcome } from './relp-session.js';

/** What a connection needs of its source. */
export interface ConnectionHost {
  readonly options: SyslogSourceOptions;
  readonly counts: SyslogCounts;
  readonly log: RateLog;
  /** The listening addresses (for the hints of the log lines). */
  readonly addresses: Partial<Record<Transport, string>>;
  /** Parse and submit one message; settles with what became of it. */
  take(bytes: Buffer, size: number, from: Sender, truncated: boolean): Promise<RelpOutcome>;
  /** Streams stop reading while this holds. */
  held(): boolean;
  /** A connection paused: the source arranges its resume. */
  paused(): void;
  closed(c: StreamConnection): void;
}

/**
 * A TLS handshake record (content type 22, version 3.x): what a TLS client (rsyslog's gtls, a
 * device set to TLS) sends first. No syslog message starts so (`<PRI>` or an octet count).
 */
function tlsHandshake(chunk: Buffer): boolean {
  return chunk[0] === 0x16 && (chunk.length < 2 || chunk[1] === 0x03);
}

export class StreamConnection {
  readonly sender: Sender;
  private readonly framer: SyslogFramer;
  /** A RELP connection's session (its frames instead of the framer's). */
  readonly relp: RelpSession | undefined;
  paused = false;
  private messageTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Nothing read yet: the first bytes tell a TLS client that came to the tcp or relp port. */
  private fresh: boolean;
  /** A TLS connection (tls, relp with tls): one its sender closes before any byte likely refused the certificate. */
  private readonly encrypted: boolean;
  private anyBytes = false;
  /** The gateway closed it (a stop, a timeout): not the sender's doing. */
  private closedByUs = false;

  constructor(
    readonly socket: Socket,
    transport: Transport,
    private readonly host: ConnectionHost,
  ) {
    const o = host.options;
    this.sender = { address: peerAddress(socket) ?? '', port: socket.remotePort ?? 0, transport };
    this.framer = new SyslogFramer(o.maxMessageBytes);
    // a TLS socket's bytes are past its handshake already (relp.tls)
    this.encrypted = 'encrypted' in socket;
    this.fresh = (transport === 'tcp' || transport === 'relp') && !this.encrypted;
    this.relp =
      transport === 'relp'
        ? new RelpSession(socket, o.maxMessageBytes, {
            software: 'gatehouse',
            syslog: (data, truncated) => host.take(data, data.length, this.sender, truncated),
            protocolError: (reason) => {
              host.counts.connection('relp', 'protocol-error');
              host.log(
                'relp-protocol',
                { ip: this.sender.address, reason },
                'syslog source: a RELP connection broke the protocol: closed (its unanswered messages are sent again)',
              );
            },
          })
        : undefined;
    host.counts.connection(transport, 'accepted');
    socket.setTimeout(o.idleTimeoutMs, () => this.cut('idle-timeout'));
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('end', () => this.finish());
    socket.on('close', () => {
      if (this.encrypted && !this.anyBytes && !this.closedByUs) this.closedBeforeData();
      this.finish();
      host.closed(this);
    });
    socket.on('error', (err) => host.log(`socket-error:${transport}`, { err: errorMessage(err), ip: this.sender.address }, 'syslog source: connection error'));
    if (host.held()) this.pause();
  }

  /** The gateway stops: a RELP session answers what is committed and says serverclose; others get a FIN (rsyslog then queues). */
  close(): void {
    this.closedByUs = true;
    this.socket.setTimeout(0);
    if (this.relp) this.relp.serverClose();
    else this.socket.end();
  }

  pause(): void {
    if (this.paused || this.finished) return;
    this.paused = true;
    this.socket.pause();
    // waiting on the gateway is not the sender's silence
    this.socket.setTimeout(0);
    clearTimeout(this.messageTimer);
    this.messageTimer = undefined;
    this.host.paused();
  }

  /** Read again (the idle timeout back on unless the gateway stops). */
  resume(stopping: boolean): void {
    if (!this.paused || this.finished) return;
    this.paused = false;
    if (!stopping) this.socket.setTimeout(this.host.options.idleTimeoutMs);
    this.socket.resume();
  }

  private read(chunk: Buffer): void {
    this.anyBytes = true;
    if (this.fresh) {
      this.fresh = false;
      // Framed by its line feeds, a ClientHello would be committed as messages of binary, again at each retry of the sender.
      if (tlsHandshake(chunk)) return this.tlsOnPlainPort();
    }
    let done = 0;
    if (this.relp) done = this.relp.push(chunk);
    else {
      const frames = this.framer.push(chunk);
      for (const f of frames) void this.host.take(f.bytes, f.bytes.length, this.sender, f.truncated);
      done = frames.length;
    }
    const framer = this.relp ?? this.framer;
    // A message begun must end within messageTimeoutMs (a slow sender holding a connection).
    if (done > 0 || !framer.begun) {
      clearTimeout(this.messageTimer);
      this.messageTimer = undefined;
    }
    if (framer.begun && !this.messageTimer && !this.paused)
      this.messageTimer = setTimeout(() => this.cut('message-timeout'), this.host.options.messageTimeoutMs);
    if (this.host.held()) this.pause();
  }

  private tlsOnPlainPort(): void {
    this.finished = true; // nothing of it is a message
    this.closedByUs = true;
    const { transport, address } = this.sender;
    const at = this.host.addresses;
    this.host.counts.connection(transport, 'tls-on-tcp');
    this.host.log(
      `tls-on-${transport}`,
      { ip: address, [transport]: at[transport], tls: at.tls ?? 'none' },
      transport === 'relp'
        ? 'syslog source: a TLS client connected to the relp port: closed; the relp listener is plain TCP (give it tls: relp.tls cert and key, or set the sender\'s omrelp tls="off")'
        : at.tls
          ? `syslog source: a TLS client connected to the tcp port: closed; send it to the tls port (${at.tls})`
          : 'syslog source: a TLS client connected to the tcp port: closed; give the source a tls listener (tls: cert, key) and send it there, or set the sender to plain TCP',
    );
    this.socket.destroy();
  }

  /**
   * A TLS sender that completes the handshake and closes before sending a byte has most likely
   * refused the gateway's certificate after it (rsyslog's gtls checks the signer and the name only
   * then: `not permitted to talk to peer, certificate invalid: signer not found`; librelp's
   * OpenSSL code too), so the handshake never fails here: said, as the sender never learns more.
   */
  private closedBeforeData(): void {
    const { transport, address } = this.sender;
    this.host.counts.connection(transport, 'closed-before-data');
    this.host.log(
      `closed-before-data:${transport}`,
      { ip: address, transport },
      transport === 'relp'
        ? "syslog source: a RELP sender closed its TLS connection after the handshake, before any message: it likely refused the gateway's certificate (omrelp's tls.caCert must be the CA that signed relp.tls.cert, tls.permittedPeer a name in it)"
        : "syslog source: a TLS sender closed its connection after the handshake, before any message: it likely refused the gateway's certificate (rsyslog: DefaultNetstreamDriverCAFile must be the CA that signed tls.cert, StreamDriverPermittedPeers a name in it; its log says 'certificate invalid')",
    );
  }

  private cut(why: 'idle-timeout' | 'message-timeout'): void {
    this.closedByUs = true;
    this.host.counts.connection(this.sender.transport, why);
    this.host.log(why, { ip: this.sender.address, transport: this.sender.transport }, `syslog source: connection closed (${why})`);
    this.socket.destroy();
  }

  /** The connection ended: a last message without its LF (or cut short) is kept. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.messageTimer);
    if (this.relp) return; // a RELP frame begun and not ended was not answered: the client sends it again
    const f = this.framer.end();
    if (f) void this.host.take(f.bytes, f.bytes.length, this.sender, f.truncated);
  }
}
