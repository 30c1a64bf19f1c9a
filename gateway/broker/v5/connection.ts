// One MQTT 5 connection: the socket and parser (packet size cap, strict strings), CONNECT (with
// the broker's users, limits and ACL through the same aedes hooks 3.1.1 clients go through), the
// dispatch of every packet to its handler, keep alive, DISCONNECT both ways, the will (with delay).
// The handlers past CONNECT live beside it, one module per direction or packet group: inbound
// PUBLISH/PUBREL in inbound.ts (topic aliases, Receive Maximum, commit then PUBACK, or a negative
// PUBACK with a reason code: the connection stays up), SUBSCRIBE/UNSUBSCRIBE in subscribe.ts, the
// server -> client side (PUBACK/PUBREC/PUBCOMP of our publishes) in outbound.ts. What the broker
// decides about a CONNECT (refusals, session room, keep alive, expiry, CONNACK) is in connect.ts.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { IConnectPacket, IDisconnectPacket, Packet } from 'mqtt-packet';
import type { Client } from 'aedes';
import { certThumbprint, ConnState } from '../connection.js';
import { makeParserStrict, type StrictParserInternals } from '../strict.js';
import { RC, withoutProblemInformation } from './codes.js';
import { connackProperties, grantedExpiry, grantedKeepalive, refusalBeforeAuth, refusedAuthCode, roomForNewSession } from './connect.js';
import { Inbound } from './inbound.js';
import { Outbound, writeBatched } from './outbound.js';
import { propertiesProblem, type PropertiesProblem } from './properties.js';
import { NEVER_EXPIRES, type Session } from './session.js';
import { handleSubscribe, handleUnsubscribe, reauthorizeSubscriptions } from './subscribe.js';
import type { AcceptedConnection, V5Context, V5ConnectionHandle } from './types.js';
import { peerAddress } from '../peer-address.js';

type Will = NonNullable<IConnectPacket['will']>;
/** Packets held behind a CONNECT until its CONNACK (one socket read holds at most ~32,768). */
const MAX_EARLY_PACKETS = 65_536;

export class V5Connection implements V5ConnectionHandle {
  private readonly parser = mqttPacket.parser({ protocolVersion: 5 });
  private st: ConnState | undefined;
  private client: Client | undefined;
  session: Session | undefined;
  private out: Outbound | undefined;
  private in: Inbound | undefined;
  /** What the handlers in subscribe.ts and inbound.ts use of this connection (set with session). */
  private accepted: AcceptedConnection | undefined;
  /** The Session Expiry Interval the CONNECT asked for ([MQTT-3.14.2-2] is about it, not the grant). */
  private connectExpiry = 0;
  private will: Will | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private connecting = false;
  private closed = false;
  /** The server sent DISCONNECT (or is closing): what the client sent behind it is not handled. */
  private ending = false;
  /** Set by a client DISCONNECT without 0x04 and by a server DISCONNECT: no will. */
  private noWill = false;
  /** CONNECT's Request Problem Information (default 1): 0 = no reason strings or user properties. */
  private problemInformation = true;
  clientId = '';

  get ip(): string | undefined {
    return peerAddress(this.socket);
  }

  constructor(
    private readonly socket: Socket,
    private readonly listener: string,
    private readonly ctx: V5Context,
  ) {
    capParserLength(this.parser, ctx.maxPacketBytes, () => {
      ctx.stats.payloadTooLarge++;
      this.disconnect(RC.PACKET_TOO_LARGE, `packet over the maximum packet size ${ctx.maxPacketBytes}`);
    });
    // the same string strictness as 3.1.1 (UTF-8, no U+0000): a bad string is DISCONNECT 0x81
    makeParserStrict(this.parser as unknown as StrictParserInternals, socket, (v) => {
      if (v === 'utf8') ctx.stats.strictUtf8++;
      else if (v === 'nul') ctx.stats.strictNul++;
      else ctx.stats.strictProtocolLevel++;
      ctx.rateLog(
        `strict-${v}`,
        { ip: peerAddress(socket), client: this.clientId, violation: v },
        'malformed MQTT 5 string (invalid UTF-8 or U+0000): closing the connection',
      );
    });
    this.parser.on('packet', (p: Packet) => this.onPacket(p));
    this.parser.on('error', (err: Error & { tooLarge?: boolean; strict?: boolean }) => {
      if (err.tooLarge) return;
      // strict-string violations are logged by makeParserStrict with their own counter
      if (err.strict) ctx.stats.protocolErrors++;
      else this.protocolError(err.message);
      this.disconnect(RC.MALFORMED, err.message);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.parse(chunk);
      } catch (err) {
        // a bug here must cost this connection, never the gateway
        ctx.stats.protocolErrors++;
        ctx.log.error({ err: (err as Error).message, stack: (err as Error).stack, client: this.clientId }, 'MQTT 5 connection failed');
        return void socket.destroy();
      }
      // QoS 0 floods queue behind the commit window: stop reading until it drains
      if (this.st && this.st.waiting.length > 0) socket.pause();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => this.onClose());
    this.connectTimer = setTimeout(() => {
      ctx.stats.connectTimeouts++;
      socket.destroy();
    }, ctx.options.connectTimeoutMs);
    socket.resume();
  }

  private connectTimer: NodeJS.Timeout | undefined;
  /**
   * Packets that came behind the CONNECT before its CONNACK (a client need not wait for it, MQTT 5
   * 3.1.4): kept, with the socket paused, and handled in order once the connection is accepted.
   * Bounded by the one socket read that held them (the cap is a guard).
   */
  private early: Packet[] = [];

  /** A client's protocol error: counted, logged at a bounded rate (the caller closes). */
  private protocolError(why: string): void {
    this.ctx.stats.protocolErrors++;
    this.ctx.rateLog(
      'protocol-error',
      { ip: peerAddress(this.socket), client: this.clientId || undefined, err: why },
      'MQTT 5 protocol error: closing the connection',
    );
  }

  /**
   * Every packet to this client but PUBLISH (outbound.ts) goes out here, so this is where the
   * client's Request Problem Information applies.
   */
  private write(packet: Packet): void {
    const p = this.problemInformation ? packet : withoutProblemInformation(packet);
    if (this.out) this.out.write(p);
    else if (!this.socket.destroyed) writeBatched(this.socket, mqttPacket.generate(p, { protocolVersion: 5 }));
  }

  /** Server-initiated DISCONNECT with a reason, then close. */
  disconnect(reasonCode: number, why?: string, properties?: IDisconnectPacket['properties']): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.noWill = this.noWill || reasonCode === RC.SHUTTING_DOWN;
    // DISCONNECT only after a CONNACK [MQTT-4.13.1-1 ff.]; before it the socket is just closed
    if (this.session) {
      const d: IDisconnectPacket = { cmd: 'disconnect', reasonCode };
      const props = { ...properties, ...(why ? { reasonString: why.slice(0, 200) } : {}) };
      if (Object.keys(props).length > 0) d.properties = props;
      this.write(d);
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Another connection took this client id over: its will is not sent (the session goes on). */
  takenOver(): void {
    this.noWill = true;
    this.disconnect(RC.SESSION_TAKEN_OVER, 'another connection with this client id');
  }

  private onPacket(p: Packet): void {
    if (this.ending) return;
    this.keepaliveTimer?.refresh();
    // a property the parser read as null or as an array goes no further (properties.ts)
    const bad = propertiesProblem(p);
    if (bad) return this.refuseProperties(p, bad);
    if (p.cmd === 'connect') return this.onConnect(p);
    if (!this.session) {
      if (this.connecting && !this.closed) {
        if (this.early.length >= MAX_EARLY_PACKETS) {
          this.protocolError(`more than ${MAX_EARLY_PACKETS} packets before CONNACK`);
          return void this.socket.destroy();
        }
        this.early.push(p);
        this.socket.pause();
        return;
      }
      // [MQTT-3.1.0-1]: the first packet must be CONNECT
      this.protocolError(`${p.cmd} before CONNECT`);
      return void this.socket.destroy();
    }
    switch (p.cmd) {
      case 'publish':
        return this.in!.onPublish(p);
      case 'puback':
        return this.out!.onPuback(p.messageId!);
      case 'pubrec':
        return this.out!.onPubrec(p.messageId!, p.reasonCode);
      case 'pubcomp':
        return this.out!.onPubcomp(p.messageId!);
      case 'pubrel':
        return this.in!.onPubrel(p);
      case 'subscribe':
        return handleSubscribe(this.accepted!, p);
      case 'unsubscribe':
        return handleUnsubscribe(this.accepted!, p);
      case 'pingreq':
        return this.write({ cmd: 'pingresp' });
      case 'disconnect':
        return this.onClientDisconnect(p);
      case 'auth':
        return this.disconnect(RC.PROTOCOL_ERROR, 'AUTH without an authentication method in CONNECT');
      default:
        this.protocolError(`unexpected ${p.cmd} packet`);
        return this.disconnect(RC.PROTOCOL_ERROR, `unexpected ${p.cmd} packet`);
    }
  }

  /** A packet with malformed or repeated properties: CONNACK (a first CONNECT) or DISCONNECT with the reason code, then close. */
  private refuseProperties(p: Packet, bad: PropertiesProblem): void {
    this.protocolError(bad.why);
    if (p.cmd === 'connect' && !this.session && !this.connecting) {
      this.ending = true;
      this.write({ cmd: 'connack', reasonCode: bad.reasonCode, sessionPresent: false, properties: { reasonString: bad.why } });
      return void this.socket.end();
    }
    this.disconnect(bad.reasonCode, bad.why);
  }

  private onConnect(p: IConnectPacket): void {
    const ctx = this.ctx;
    if (this.session || this.connecting) {
      this.protocolError('second CONNECT');
      return this.disconnect(RC.PROTOCOL_ERROR, 'second CONNECT');
    }
    this.connecting = true;
    clearTimeout(this.connectTimer);
    this.ctx.connectReceived(this.socket);
    const props = p.properties ?? {};
    this.problemInformation = props.requestProblemInformation !== false;
    // an authentication method, a will topic over maxTopicLength (connect.ts)
    const refusal = refusalBeforeAuth(ctx, p, peerAddress(this.socket));
    if (refusal) {
      this.write(refusal);
      return void this.socket.end();
    }
    const assigned = p.clientId === '' ? `gh5-${randomUUID()}` : undefined;
    this.clientId = assigned ?? p.clientId;
    // a stand-in aedes client so the 3.1.1 hooks (users, limits, ACL, commit window) serve v5 too
    this.client = { id: this.clientId, version: 5, conn: this.socket } as unknown as Client;
    const st = new ConnState(this.client, this.listener, peerAddress(this.socket));
    st.certThumbprint = certThumbprint(this.socket);
    // restarted while the rate limit holds publishes (their socket is not read meanwhile)
    st.refreshKeepalive = () => this.keepaliveTimer?.refresh();
    this.st = st;
    ctx.states.set(this.client, st);
    const password = p.password === undefined ? undefined : Buffer.isBuffer(p.password) ? p.password : Buffer.from(p.password);
    ctx.hooks.authenticate(this.client, p.username, password, (err, ok) => {
      if (this.closed) return;
      if (err || !ok) {
        this.write({ cmd: 'connack', reasonCode: refusedAuthCode(err), sessionPresent: false, properties: { reasonString: err?.message ?? 'refused' } });
        return void this.socket.end();
      }
      this.accept(p, assigned);
    });
  }

  private accept(p: IConnectPacket, assigned: string | undefined): void {
    const ctx = this.ctx;
    const id = this.clientId;
    const props = p.properties ?? {};
    const existing = ctx.sessions.get(id);
    // a full table: the session disconnected longest ago makes room, else CONNACK 0x97 (connect.ts)
    if (!existing && !roomForNewSession(ctx, id)) {
      this.write({
        cmd: 'connack',
        reasonCode: RC.QUOTA_EXCEEDED,
        sessionPresent: false,
        properties: { reasonString: `the broker holds its maximum of ${ctx.options.mqtt5.maxSessions} MQTT 5 sessions` },
      });
      return void this.socket.end();
    }
    ctx.takeOver(id, this);
    let session = p.clean ? undefined : existing;
    const sessionPresent = session !== undefined;
    session ??= ctx.newSession(id);
    const askedExpiry = props.sessionExpiryInterval ?? 0;
    this.connectExpiry = askedExpiry;
    session.expiryInterval = grantedExpiry(askedExpiry, ctx.options.mqtt5.maxSessionExpirySeconds);
    ctx.sessions.attached(session);
    this.session = session;
    this.accepted = {
      ctx,
      socket: this.socket,
      session,
      st: this.st!,
      client: this.client!,
      clientId: id,
      write: (packet) => this.write(packet),
      disconnect: (reasonCode, why) => this.disconnect(reasonCode, why),
      isClosed: () => this.closed,
    };
    this.in = new Inbound(this.accepted);
    this.will = p.will;
    const { keepalive, serverKeepAlive } = grantedKeepalive(p.keepalive ?? 0, ctx.maxKeepalive);
    if (keepalive > 0) {
      this.keepaliveTimer = setTimeout(() => this.disconnect(RC.KEEP_ALIVE_TIMEOUT, 'keep alive timeout'), keepalive * 1500);
      this.keepaliveTimer.unref();
    }
    const st = this.st!;
    this.out = new Outbound(
      this.socket,
      session,
      {
        receiveMaximum: props.receiveMaximum ?? 65535,
        maximumPacketSize: props.maximumPacketSize ?? 268_435_455,
        topicAliasMaximum: props.topicAliasMaximum ?? 0,
        drainTimeoutMs: ctx.options.drainTimeoutMs,
      },
      ctx.stats,
      ctx.monotonic,
      (topic) => !st.filterDeliveries || st.acl.canRead(topic),
    );
    session.link = this.out;
    if (sessionPresent) reauthorizeSubscriptions(this.accepted);
    const connackProps = connackProperties(ctx, assigned, serverKeepAlive, session.expiryInterval, askedExpiry);
    this.write({ cmd: 'connack', reasonCode: RC.SUCCESS, sessionPresent, properties: connackProps });
    ctx.log.debug({ client: id, sessionPresent, listener: this.listener }, 'MQTT 5 client connected');
    this.out.resume();
    // what the client sent behind its CONNECT, in order; then read on (unless commits wait)
    const early = this.early;
    this.early = [];
    for (const q of early) {
      if (this.closed) return;
      this.onPacket(q);
    }
    if (!this.closed && st.waiting.length === 0) this.socket.resume();
  }

  private onClientDisconnect(p: IDisconnectPacket): void {
    const session = this.session!;
    const next = p.properties?.sessionExpiryInterval;
    if (next !== undefined) {
      // [MQTT-3.14.2-2]: a session that ends at disconnect cannot be revived by DISCONNECT
      if (this.connectExpiry === 0 && next !== 0) return this.disconnect(RC.PROTOCOL_ERROR, 'session expiry interval was 0 at CONNECT');
      session.expiryInterval = grantedExpiry(next, this.ctx.options.mqtt5.maxSessionExpirySeconds);
    }
    this.noWill = (p.reasonCode ?? 0) !== RC.DISCONNECT_WITH_WILL;
    this.socket.end();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.out?.close();
    const ctx = this.ctx;
    const st = this.st;
    if (st) {
      st.closed = true;
      if (st.authorized) {
        st.authorized = false;
        ctx.stats.clients--;
        ctx.live.delete(st);
      }
    }
    ctx.released(this);
    const session = this.session;
    if (!session || session.link !== this.out) return;
    if (this.will && !this.noWill && !ctx.stopping()) {
      const delay = Math.min(this.will.properties?.willDelayInterval ?? 0, session.expiryInterval === NEVER_EXPIRES ? Infinity : session.expiryInterval);
      ctx.scheduleWill(this.clientId, this.client!, this.will, delay);
    }
    ctx.sessions.detached(session);
  }
}

/** Refuse a packet over the limit as soon as its length prefix is read (mqtt-packet buffers whole packets). */
function capParserLength(parser: ReturnType<typeof mqttPacket.parser>, max: number, onTooLarge: () => void): void {
  type P = { packet: { length: number }; _parseLength(): boolean; _emitError(e: Error): void };
  const internals = parser as unknown as P;
  const parseLength = internals._parseLength;
  internals._parseLength = function capped(this: P): boolean {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > max) {
      this._emitError(Object.assign(new Error(`packet of ${this.packet.length} bytes exceeds the broker limit`), { tooLarge: true }));
      onTooLarge();
      return false;
    }
    return ok;
  };
}
