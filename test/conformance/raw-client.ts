// A bare MQTT client on mqtt-packet for the conformance harness: like the Eclipse Paho test client
// it sends exactly the packets a test asks for (topic alias 0, a second CONNECT, no PUBREL...),
// which mqtt.js refuses or hides. It acks incoming QoS 1/2 publishes unless paused or autoAck is off.
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { IConnackPacket, IConnectPacket, IDisconnectPacket, IPublishPacket, ISubackPacket, ISubscription, IUnsubackPacket, Packet } from 'mqtt-packet';

export interface ConnectOpts {
  clean?: boolean;
  keepalive?: number;
  properties?: IConnectPacket['properties'];
  will?: IConnectPacket['will'];
  protocolId?: string;
  username?: string;
  password?: string;
}

/** A received PUBLISH as it came off the wire (topic before alias resolution). */
export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  messageId: number | undefined;
  properties: NonNullable<IPublishPacket['properties']>;
  at: number;
}

type Waiter = { resolve: (p: Packet) => void; reject: (e: Error) => void };

export class RawClient {
  messages: Received[] = [];
  disconnects: IDisconnectPacket[] = [];
  packets: Packet[] = [];
  paused = false;
  autoAck = true;
  closed = true;
  private sock: Socket | undefined;
  private nextId = 1;
  private waiters = new Map<string, Waiter>();
  private connackWaiter: Waiter | undefined;
  private closeWaiters: Array<() => void> = [];
  /** Our QoS 1/2 publishes not yet completed: resent (dup) when a session is resumed, as Paho does. */
  private outMsgs = new Map<number, IPublishPacket>();

  constructor(
    readonly clientId: string,
    readonly version: 3 | 4 | 5 = 5,
    readonly timeoutMs = 5000,
  ) {}

  /** Counts as methods: assertion narrowing would freeze a `.length` read across awaits. */
  count(): number {
    return this.messages.length;
  }

  disconnectCount(): number {
    return this.disconnects.length;
  }

  clear(): void {
    this.messages = [];
    this.disconnects = [];
    this.packets = [];
  }

  /** CONNECT on a new socket; resolves with the CONNACK, rejects on a refusal or a closed socket. */
  connect(host: string, port: number, opts: ConnectOpts = {}): Promise<IConnackPacket> {
    this.terminate();
    const sock = netConnect({ host, port });
    sock.setNoDelay(true);
    this.sock = sock;
    this.closed = false;
    const parser = mqttPacket.parser({ protocolVersion: this.version });
    parser.on('packet', (p: Packet) => this.onPacket(p));
    parser.on('error', () => sock.destroy());
    sock.on('data', (d: Buffer) => parser.parse(d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.closed = true;
      const err = new Error('connection closed');
      this.connackWaiter?.reject(err);
      this.connackWaiter = undefined;
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
      for (const f of this.closeWaiters.splice(0)) f();
    });
    const connack = this.sendConnect(opts);
    if (opts.clean === false) {
      void connack.then(
        (c) => {
          if (!c.sessionPresent) return this.outMsgs.clear();
          for (const p of this.outMsgs.values()) this.send({ ...p, dup: true });
        },
        () => undefined,
      );
    } else this.outMsgs.clear();
    return connack;
  }

  /** CONNECT on the current socket (a second CONNECT is a protocol error the server must close on). */
  sendConnect(opts: ConnectOpts = {}): Promise<IConnackPacket> {
    const packet = {
      cmd: 'connect',
      protocolId: opts.protocolId ?? (this.version === 3 ? 'MQIsdp' : 'MQTT'),
      protocolVersion: this.version,
      clientId: this.clientId,
      clean: opts.clean ?? true,
      keepalive: opts.keepalive ?? 0,
      ...(opts.properties && this.version === 5 ? { properties: opts.properties } : {}),
      ...(opts.will ? { will: opts.will } : {}),
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
    } as IConnectPacket;
    let bytes: Buffer;
    if (packet.clientId !== '' || opts.clean !== false) bytes = mqttPacket.generate(packet, { protocolVersion: this.version });
    else {
      // mqtt-packet refuses to write this (a 3.1.1 error, legal in v5): write it clean, clear the flag
      const clean = { ...packet, clean: true };
      bytes = mqttPacket.generate(clean, { protocolVersion: this.version });
      let i = 1;
      while ((bytes[i]! & 0x80) !== 0) i++;
      const flags = i + 1 + 2 + (packet.protocolId ?? 'MQTT').length + 1;
      bytes[flags] = bytes[flags]! & ~0x02;
    }
    return this.withTimeout(
      new Promise<IConnackPacket>((resolve, reject) => {
        this.connackWaiter = {
          resolve: (p) => {
            const c = p as IConnackPacket;
            const code = c.reasonCode ?? c.returnCode ?? 0;
            if (code !== 0) reject(Object.assign(new Error(`CONNACK refused: 0x${code.toString(16)}`), { code, connack: c }));
            else resolve(c);
          },
          reject,
        };
        if (!this.sock || this.sock.destroyed) throw new Error('not connected');
        this.sock.write(bytes);
      }),
      'CONNACK',
    );
  }

  /** Write a packet; on a closed connection it is dropped (the test sees the close, not a throw). */
  send(packet: Packet): void {
    if (!this.sock || this.sock.destroyed) return;
    this.sock.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** PUBLISH; for QoS 1 resolves with the PUBACK, for QoS 2 with the PUBREC (after sending PUBREL, the PUBCOMP). */
  async publish(
    topic: string,
    payload: string | Buffer,
    qos: 0 | 1 | 2 = 0,
    opts: { retain?: boolean; properties?: IPublishPacket['properties']; waitAck?: boolean } = {},
  ): Promise<Packet | undefined> {
    const messageId = qos > 0 ? this.id() : undefined;
    const p: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      retain: opts.retain ?? false,
      dup: false,
    };
    if (messageId !== undefined) p.messageId = messageId;
    if (opts.properties && this.version === 5) p.properties = opts.properties;
    if (messageId !== undefined) this.outMsgs.set(messageId, p);
    if (qos === 0 || opts.waitAck === false) {
      this.send(p);
      return undefined;
    }
    const ack = this.expect(qos === 1 ? 'puback' : 'pubrec', messageId!);
    this.send(p);
    const first = await ack;
    if (qos === 1) return first;
    const code = (first as { reasonCode?: number }).reasonCode ?? 0;
    if (code >= 0x80) return first;
    return this.expect('pubcomp', messageId!);
  }

  subscribe(subs: ISubscription[], properties?: NonNullable<import('mqtt-packet').ISubscribePacket['properties']>): Promise<ISubackPacket> {
    const messageId = this.id();
    const ack = this.expect('suback', messageId) as Promise<ISubackPacket>;
    this.send({ cmd: 'subscribe', messageId, subscriptions: subs, ...(properties && this.version === 5 ? { properties } : {}) });
    return ack;
  }

  unsubscribe(topics: string[]): Promise<IUnsubackPacket> {
    const messageId = this.id();
    const ack = this.expect('unsuback', messageId) as Promise<IUnsubackPacket>;
    this.send({ cmd: 'unsubscribe', messageId, unsubscriptions: topics });
    return ack;
  }

  /** DISCONNECT and wait for the socket to close (we close it after sending, as Paho does). */
  async disconnect(properties?: IDisconnectPacket['properties'], reasonCode = 0): Promise<void> {
    if (!this.sock || this.sock.destroyed) return;
    const d: IDisconnectPacket = { cmd: 'disconnect' };
    if (this.version === 5) {
      d.reasonCode = reasonCode;
      if (properties) d.properties = properties;
    }
    const sock = this.sock;
    await new Promise<void>((r) => sock.end(mqttPacket.generate(d, { protocolVersion: this.version }), () => r()));
    await this.waitClosed(2000).catch(() => sock.destroy());
  }

  /** Drop the TCP connection without DISCONNECT (the will is published). */
  terminate(): void {
    const s = this.sock;
    if (s && !s.destroyed) s.destroy();
  }

  waitClosed(timeoutMs = this.timeoutMs): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.withTimeout(new Promise<void>((r) => this.closeWaiters.push(r)), 'socket close', timeoutMs);
  }

  ack(m: Received): void {
    if (m.qos === 1) this.send({ cmd: 'puback', messageId: m.messageId! });
    else if (m.qos === 2) this.send({ cmd: 'pubrec', messageId: m.messageId! });
  }

  private onPacket(p: Packet): void {
    this.packets.push(p);
    switch (p.cmd) {
      case 'connack': {
        const w = this.connackWaiter;
        this.connackWaiter = undefined;
        w?.resolve(p);
        return;
      }
      case 'publish': {
        if (this.paused) return;
        const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
        const m: Received = { topic: p.topic, payload, qos: p.qos, retain: p.retain, messageId: p.messageId, properties: p.properties ?? {}, at: Date.now() };
        this.messages.push(m);
        if (this.autoAck) this.ack(m);
        return;
      }
      case 'pubrel':
        if (!this.paused) this.send({ cmd: 'pubcomp', messageId: p.messageId! });
        return;
      case 'disconnect':
        this.disconnects.push(p);
        return;
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
      case 'suback':
      case 'unsuback': {
        if (p.cmd === 'puback' || p.cmd === 'pubcomp' || (p.cmd === 'pubrec' && (p.reasonCode ?? 0) >= 0x80)) this.outMsgs.delete(p.messageId!);
        else if (p.cmd === 'pubrec') {
          if (this.paused) return;
          this.send({ cmd: 'pubrel', messageId: p.messageId! });
        }
        const key = `${p.cmd}:${p.messageId}`;
        const w = this.waiters.get(key);
        this.waiters.delete(key);
        w?.resolve(p);
        return;
      }
      default:
        return;
    }
  }

  private expect(cmd: string, messageId: number): Promise<Packet> {
    return this.withTimeout(new Promise<Packet>((resolve, reject) => this.waiters.set(`${cmd}:${messageId}`, { resolve, reject })), `${cmd} ${messageId}`);
  }

  private id(): number {
    const id = this.nextId;
    this.nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  private withTimeout<T>(p: Promise<T>, what: string, ms = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.clientId}: timed out waiting for ${what}`)), ms);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }
}
