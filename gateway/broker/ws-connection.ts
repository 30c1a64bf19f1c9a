// One MQTT over WebSockets connection as the stream the broker reads and writes (MQTT 5 spec,
// section 6): what aedes, the protocol sniff, the v5 layer, the rate limit's read gate and the
// slow-consumer limits use of a TCP socket, over a `ws` WebSocket. So a WebSocket client goes
// through the same admission and routing as a TCP one (accept.ts), not a second path.
// - read: each binary message's bytes, in order (MQTT packets need not align with frames); a
//   reader that stops (the rate limit, aedes' read gate, the v5 layer's pause) fills the stream's
//   buffer (16 KiB) and then pauses the WebSocket, which pauses its TCP socket: the client is slowed
//   by TCP as on a plain listener. A text frame closes the connection (1003): MQTT is binary only.
// - write: each write (a corked batch as one) is one binary frame, called back when the frame is
//   written to the TCP socket: writableLength and 'drain' say what a slow browser has not taken, as
//   a TCP socket's do, so outbound.ts and the drain timeout bound it the same way.
// - pings: answered while the TCP socket has room (PONG_ROOM_BYTES), else dropped.
// - end: a close frame (1000) after what was written; destroy: a close frame too, and the TCP
//   socket is closed if the peer has not answered it within CLOSE_GRACE_MS.
// - remoteAddress/remotePort/localAddress/localPort and, on wss://, the TLS socket's peer
//   certificate (certThumbprint, identity, CRL checks), from the HTTP connection's socket.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { PeerCertificate, DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';

/** How long a closed connection waits for the peer's close frame before its TCP socket is closed. */
export const CLOSE_GRACE_MS = 1000;
/** A WebSocket ping is answered while the TCP socket holds at most this much unsent. */
export const PONG_ROOM_BYTES = 64 * 1024;

/** Why a WebSocket connection was refused or closed by the broker (gatehouse_mqtt_websocket_refused_total). */
export type WebSocketRefusal = 'not-upgrade' | 'path' | 'origin' | 'subprotocol' | 'handshake' | 'text-frame' | 'too-large' | 'headers';

export class WebSocketConnection extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** The transport under the WebSocket: 'ws' or 'wss'. */
  readonly transport: 'ws' | 'wss';
  private readonly ws: WebSocket;
  private readonly tcp: Socket;

  /** `socket`: the upgraded HTTP connection's socket (a TLSSocket on wss://). */
  constructor(ws: WebSocket, socket: Socket, onRefused: (reason: WebSocketRefusal) => void) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.ws = ws;
    this.tcp = socket;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
    this.transport = (socket as Partial<TLSSocket>).encrypted === true ? 'wss' : 'ws';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.destroyed) return;
      if (!isBinary) {
        onRefused('text-frame');
        ws.close(1003, 'MQTT over WebSockets takes binary frames only');
        this.destroy();
        return;
      }
      if (!this.push(data)) ws.pause();
    });
    // Pongs are written straight to the TCP socket, past this stream's bounds: a client sending
    // pings and reading nothing grew the gateway's memory by a pong per ping (the server's
    // autoPong is off: websocket.ts). A ping is answered while the socket has room, else dropped
    // (a client that reads gets its pongs; MQTT's own keep alive is PINGREQ).
    ws.on('ping', (data: Buffer) => {
      if (socket.writableLength <= PONG_ROOM_BYTES && ws.readyState === ws.OPEN) ws.pong(data);
    });
    // ws emits 'error' before closing (a frame over maxPayload: 1009, a protocol error: 1002)
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') onRefused('too-large');
    });
    ws.on('close', (code: number) => {
      // 1006: the TCP connection went without a close frame (reset, shed, stopped): gone at once,
      // as a reset TCP socket. A close frame: the end of the stream, after what was read before it
      // (a DISCONNECT just before the close frame is still read: no will is published).
      if (code === 1006 || this.readableEnded) this.destroy();
      else this.push(null);
    });
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    // after the peer's close frame: nothing more reaches it (a TCP socket after the peer's FIN)
    if (this.ws.readyState !== this.ws.OPEN) return cb();
    this.ws.send(chunk, { binary: true }, (err) => cb(err ?? null));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const ws = this.ws;
    if (ws.readyState === ws.OPEN) ws.close(err ? 1011 : 1000);
    if (ws.readyState !== ws.CLOSED) {
      const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    }
    cb(err);
  }

  /** ws sets TCP_NODELAY on its socket itself. */
  setNoDelay(): this {
    return this;
  }

  /** wss:// with a verified client certificate (mutual TLS): true, as the TLS socket says. */
  get authorized(): boolean {
    return (this.tcp as Partial<TLSSocket>).authorized === true;
  }

  get encrypted(): boolean {
    return this.transport === 'wss';
  }

  /** The TLS socket's peer certificate on wss:// ({} on ws://, as a TLS socket without one). */
  getPeerCertificate(detailed?: boolean): PeerCertificate | DetailedPeerCertificate {
    const tls = this.tcp as Partial<TLSSocket>;
    if (typeof tls.getPeerCertificate !== 'function') return {} as PeerCertificate;
    return detailed ? tls.getPeerCertificate(true) : tls.getPeerCertificate();
  }
}
