// What the MQTT 5 connections share (the layer in context.ts builds it), and what the packet
// handlers get of their connection. Kept apart so connection.ts, context.ts and the handler modules
// (inbound.ts, subscribe.ts) do not import each other.
import type { Socket } from 'node:net';
import type { Client } from 'aedes';
import type { IConnectPacket, Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { ConnState } from '../connection.js';
import type { AedesHooks } from '../hooks.js';
import type { BrokerStats } from '../metrics.js';
import type { BrokerOptions } from '../options.js';
import type { RateLog } from '../../../core/rate-log.js';
import type { RoutedPacket, V5Router } from './router.js';
import type { OutMsg, Session, SessionStore } from './session.js';

/**
 * A connection whose CONNECT was accepted, as its packet handlers (inbound.ts, subscribe.ts) see
 * it: built once in connection.ts when the session is attached; none of it changes afterwards.
 */
export interface AcceptedConnection {
  ctx: V5Context;
  socket: Socket;
  session: Session;
  st: ConnState;
  /** The stand-in aedes client the hooks (users, limits, ACL, commit window) see. */
  client: Client;
  clientId: string;
  /** Send a packet (through the connection's Outbound). */
  write(p: Packet): void;
  /** Server-initiated DISCONNECT with a reason, then close. */
  disconnect(reasonCode: number, why: string): void;
  /** The socket closed (an answer that comes later is not sent). */
  isClosed(): boolean;
}

/** What the layer needs of a connection (connection.ts). */
export interface V5ConnectionHandle {
  clientId: string;
  /** The client's address. */
  readonly ip: string | undefined;
  /** Another connection took this client id over: DISCONNECT 0x8E, no will. */
  takenOver(): void;
  disconnect(reasonCode: number, why?: string): void;
}

export interface V5Context {
  options: BrokerOptions;
  stats: BrokerStats;
  log: Logger;
  /** Monotonic ms: Message Expiry deadlines (an interval by the spec, so never the wall clock). */
  monotonic: () => number;
  hooks: AedesHooks;
  states: WeakMap<Client, ConnState>;
  live: Set<ConnState>;
  sessions: SessionStore;
  router: V5Router;
  /** Largest packet accepted (CONNACK Maximum Packet Size). */
  maxPacketBytes: number;
  /** Server Receive Maximum: QoS 1/2 publishes a client may have unanswered. */
  receiveMaximum: number;
  /** Server Topic Alias Maximum (inbound aliases per connection). */
  topicAliasMaximum: number;
  /** Largest keep alive granted; a larger request is answered with Server Keep Alive (0 = none). */
  maxKeepalive: number;
  takeOver(clientId: string, conn: V5ConnectionHandle): void;
  newSession(clientId: string): Session;
  route(packet: RoutedPacket): void;
  retained(filter: string): AsyncIterable<RoutedPacket>;
  /** A retained message read for a SUBSCRIBE was replaced since: not sent (persistence.ts). */
  retainedSuperseded(topic: string, payload: unknown): boolean;
  deliver(s: Session, msg: OutMsg): void;
  released(conn: V5ConnectionHandle): void;
  stopping(): boolean;
  scheduleWill(clientId: string, client: Client, will: NonNullable<IConnectPacket['will']>, delaySeconds: number): void;
  connectReceived(socket: Socket): void;
  rateLog: RateLog;
}
