// What the broker decides about an MQTT 5 CONNECT, apart from the connection (connection.ts) that
// acts on it: what refuses it before authentication (an authentication method, a will topic over
// broker.maxTopicLength), the CONNACK reason code of a refused authentication, room in the
// session table (mqtt5.maxSessions: the session disconnected longest ago makes room), the keep
// alive and Session Expiry Interval granted, and the CONNACK's properties. Once per CONNECT: none
// of it is on the packet path.
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { V5_CONNACK_FROM_RETURN_CODE } from '../connack-codes.js';
import { utf8LengthOver } from '../identifier-limits.js';
import { RC } from './codes.js';
import type { V5Context } from './types.js';

type ConnackProperties = NonNullable<IConnackPacket['properties']>;

/** The Session Expiry Interval granted for `asked` under mqtt5.maxSessionExpirySeconds. */
export function grantedExpiry(asked: number, max: number | undefined): number {
  return max !== undefined && asked > max ? max : asked;
}

/** The CONNACK reason code of a refused authentication (from the 3.1.1 hooks' return code). */
export function refusedAuthCode(err: { returnCode: number } | null | undefined): number {
  return err ? (V5_CONNACK_FROM_RETURN_CODE[err.returnCode] ?? RC.UNSPECIFIED) : RC.UNSPECIFIED;
}

/** The CONNACK refusing this CONNECT before authentication (counted, logged at a bounded rate), or undefined when it goes on. */
export function refusalBeforeAuth(ctx: V5Context, p: IConnectPacket, ip: string | undefined): IConnackPacket | undefined {
  if (p.properties?.authenticationMethod !== undefined) {
    ctx.stats.authFailures++;
    return {
      cmd: 'connack',
      reasonCode: RC.BAD_AUTH_METHOD,
      sessionPresent: false,
      properties: { reasonString: 'enhanced authentication is not supported: use a user name and password or TLS client certificates' },
    };
  }
  const willBytes = p.will ? utf8LengthOver(p.will.topic, ctx.options.maxTopicLength) : undefined;
  if (willBytes !== undefined) {
    ctx.stats.topicTooLong++;
    ctx.rateLog(
      'will-topic-too-long',
      { client: p.clientId, ip, bytes: willBytes, maxTopicLength: ctx.options.maxTopicLength },
      'will topic over broker.maxTopicLength: CONNACK 0x90',
    );
    return {
      cmd: 'connack',
      reasonCode: RC.TOPIC_NAME_INVALID,
      sessionPresent: false,
      properties: { reasonString: `will topic of ${willBytes} bytes exceeds broker.maxTopicLength (${ctx.options.maxTopicLength})` },
    };
  }
  return undefined;
}

/**
 * Room for a new session of `clientId` in a full table: the session disconnected longest ago makes
 * room (its queued messages are lost, counted). Devices replaced over the years (new client ids)
 * or a client opening sessions under many ids would otherwise fill it with sessions that never
 * expire, and every new device would be refused for good; only a table of connected sessions
 * refuses (false: CONNACK 0x97).
 */
export function roomForNewSession(ctx: V5Context, clientId: string): boolean {
  if (ctx.sessions.sessions.size < ctx.options.mqtt5.maxSessions) return true;
  const oldest = ctx.sessions.oldestDisconnected();
  if (oldest) {
    ctx.stats.v5SessionsEvicted++;
    ctx.stats.v5Dropped += oldest.queue.length;
    ctx.rateLog(
      'session-evicted',
      { evicted: oldest.clientId, queued: oldest.queue.length, for: clientId, maxSessions: ctx.options.mqtt5.maxSessions },
      'MQTT 5 session table full (mqtt5.maxSessions): the session disconnected longest ago was removed to make room',
    );
    ctx.sessions.remove(oldest.clientId);
  }
  return ctx.sessions.sessions.size < ctx.options.mqtt5.maxSessions;
}

/** The keep alive in force for the CONNECT's, and the Server Keep Alive to announce when it is not the client's. */
export function grantedKeepalive(asked: number, max: number): { keepalive: number; serverKeepAlive: number | undefined } {
  // keep alive 0 turns keep alive off: more than any maximum (as mosquitto 2 does), else a
  // half-open v5 connection would stay forever
  const serverKeepAlive = max > 0 && (asked === 0 || asked > max) ? max : undefined;
  return { keepalive: serverKeepAlive ?? asked, serverKeepAlive };
}

/** The CONNACK's properties: the broker's limits and features, and what it grants otherwise than asked. */
export function connackProperties(
  ctx: V5Context,
  assigned: string | undefined,
  serverKeepAlive: number | undefined,
  grantedExpiryInterval: number,
  askedExpiry: number,
): ConnackProperties {
  const connackProps: ConnackProperties = {
    receiveMaximum: ctx.receiveMaximum,
    maximumPacketSize: ctx.maxPacketBytes,
    topicAliasMaximum: ctx.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
  if (assigned) connackProps.assignedClientIdentifier = assigned;
  if (serverKeepAlive !== undefined) connackProps.serverKeepAlive = serverKeepAlive;
  // [MQTT-3.2.2.3.2]: a server using another Session Expiry Interval than asked says which
  if (grantedExpiryInterval !== askedExpiry) connackProps.sessionExpiryInterval = grantedExpiryInterval;
  return connackProps;
}
