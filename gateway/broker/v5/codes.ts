// MQTT 5 reason codes the broker sends, the mapping from a refused commit to the reason code
// of the negative PUBACK/PUBREC (the durability promise in v5 words: docs/broker.md), and the
// reason strings that go with them.
import type { Packet } from 'mqtt-packet';
import { GatehouseError } from '../../../core/errors.js';
import type { AcceptedConnection } from './types.js';
import { peerAddress } from '../peer-address.js';

/**
 * A client broke the protocol after its CONNACK (Receive Maximum exceeded, a bad topic alias, an
 * empty SUBSCRIBE...): DISCONNECT with the reason code and string, counted in
 * gatehouse_mqtt_protocol_errors_total, logged at a bounded rate.
 */
export function clientFault(conn: AcceptedConnection, reasonCode: number, why: string): void {
  conn.ctx.stats.protocolErrors++;
  conn.ctx.rateLog(
    'protocol-error',
    { ip: peerAddress(conn.socket), client: conn.clientId, reasonCode, err: why },
    'MQTT 5 protocol error: closing the connection',
  );
  conn.disconnect(reasonCode, why);
}

export const RC = {
  SUCCESS: 0x00,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  DISCONNECT_WITH_WILL: 0x04,
  UNSPECIFIED: 0x80,
  MALFORMED: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_ID_NOT_VALID: 0x85,
  BAD_USER_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BAD_AUTH_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_ID_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  SHUTTING_DOWN: 0x8b,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  CONNECTION_RATE_EXCEEDED: 0x9f,
  ADMINISTRATIVE_ACTION: 0x98,
  USE_ANOTHER_SERVER: 0x9c,
  SERVER_MOVED: 0x9d,
} as const;

/** An error that carries the v5 reason code it should be answered with. */
export type CodedError = Error & { reasonCode?: number };

export function coded(reasonCode: number, message: string): CodedError {
  return Object.assign(new Error(message), { reasonCode });
}

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * The reason code for a publish the gateway could not commit: 0x97 when a stream is full, the disk
 * is, or the record can never fit its stream; 0x87 for an ACL refusal; 0x90 for a topic over
 * maxTopicLength; 0x95 for a payload over
 * maxPayloadBytes (sent as DISCONNECT: PUBACK has no 0x95); 0x80 otherwise.
 */
export function reasonForCommitError(err: unknown): number {
  for (const e of causeChain(err)) {
    const rc = (e as CodedError).reasonCode;
    if (typeof rc === 'number') return rc;
    const code = e instanceof GatehouseError ? e.code : (e as { code?: unknown }).code;
    // GH_STORE_DISK_FULL: the store's own refusal below store.reserveBytes (before any ENOSPC)
    if (code === 'GH_STREAM_FULL' || code === 'GH_STORE_DISK_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return RC.QUOTA_EXCEEDED;
    // PUBACK cannot carry 0x95 (MQTT 5 3.4.2.1): a payload over the broker limit is a DISCONNECT
    // 0x95 (connection.ts), a record too big for its stream is a quota matter
    if (code === 'GH_PAYLOAD_TOO_LARGE') return RC.PACKET_TOO_LARGE;
    if (code === 'GH_RECORD_TOO_LARGE') return RC.QUOTA_EXCEEDED;
    if (code === 'GH_ACL_DENIED') return RC.NOT_AUTHORIZED;
    if (code === 'GH_TOPIC_TOO_LONG') return RC.TOPIC_NAME_INVALID;
    if (e instanceof Error && /ENOSPC|no space left/i.test(e.message)) return RC.QUOTA_EXCEEDED;
  }
  return RC.UNSPECIFIED;
}

/** What the client of a refused QoS 1/2 publish is sent (v5/inbound.ts), in the broker's refusal warning. */
export function refusalAnswer(err: unknown): string {
  const rc = reasonForCommitError(err);
  const hex = `0x${rc.toString(16).padStart(2, '0')}`;
  return rc === RC.PACKET_TOO_LARGE ? `DISCONNECT ${hex} sent` : `negative PUBACK ${hex} sent`;
}

/** A reason string for the client: short, no internals beyond the gateway's own message. */
export function reasonString(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 200 ? `${msg.slice(0, 197)}...` : msg;
}

/** The packets that keep their Reason String and User Properties whatever the client asked [MQTT-3.1.2-29]. */
const ALWAYS_INFORMED: ReadonlySet<Packet['cmd']> = new Set(['publish', 'connack', 'disconnect']);

/**
 * A packet for a client that set Request Problem Information to 0 in its CONNECT: on anything
 * but PUBLISH, CONNACK and DISCONNECT, no Reason String and no User Properties [MQTT-3.1.2-29]
 * (a PUBACK 0x87 stays, without its "why").
 */
export function withoutProblemInformation(p: Packet): Packet {
  if (ALWAYS_INFORMED.has(p.cmd) || !('properties' in p) || !p.properties) return p;
  if (!('reasonString' in p.properties) && !('userProperties' in p.properties)) return p;
  const properties: Record<string, unknown> = { ...p.properties };
  delete properties.reasonString;
  delete properties.userProperties;
  const out: Record<string, unknown> = { ...p, properties };
  if (Object.keys(properties).length === 0) delete out.properties;
  // the same packet type as p with two optional properties fewer
  return out as unknown as Packet;
}
