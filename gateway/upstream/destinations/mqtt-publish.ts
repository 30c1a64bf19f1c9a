// How the MQTT bridge destination (mqtt.ts) puts a send's records on its connection: each record's
// PUBLISH options (the record's own MQTT 5 properties with the bridge's two marks), its size in
// bytes against the broker's Maximum Packet Size, the QoS 1 publish and its result, the forgetting
// of a send's unacknowledged stored copies, and the result of a record left without a PUBACK.
// Invariants: a record is ok only on its PUBACK; nothing here retries or resends (the exporter's
// loop does), and nothing is allocated per record beyond the PUBLISH itself.
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { attrsToProperties } from '../../store/mqtt5-attrs.js';
import type { StoredRecord } from '../../store/types.js';
import { recordId, type RecordResult } from '../types.js';
import { OK } from './common.js';
import { cutOffError } from './mqtt-hints.js';
import type { MqttBridgeOptions } from './mqtt-options.js';
import { publishFailure, type PublishFailureCode } from './mqtt-refusals.js';
import { BRIDGED_PROPERTY, ID_PROPERTY } from './mqtt-topics.js';

/** mqtt-packet's encoder (loaded with mqtt.js when the destination starts). */
export type GeneratePacket = typeof import('mqtt-packet')['generate'];

/** The options of a record's PUBLISH; `bridgedId` (the client id, filled) is its gatehouse-bridged mark. */
export function publishOptions(r: StoredRecord, o: MqttBridgeOptions, bridgedId: string): IClientPublishOptions {
  const opts: IClientPublishOptions = { qos: 1, retain: o.retain };
  if (o.protocolVersion === 5) {
    // the record's own MQTT 5 properties go upstream as v5 properties, with our two marks added
    const p = attrsToProperties(r.attrs);
    opts.properties = { ...p, userProperties: { ...p?.userProperties, [ID_PROPERTY]: recordId(r), [BRIDGED_PROPERTY]: bridgedId } };
  }
  return opts;
}

/**
 * Bytes of the record's PUBLISH packet, exactly (mqtt-packet, as mqtt.js writes it) when it may
 * come near `limit`; below half of it a cheap lower bound is enough (no second encoding per record).
 */
export function publishSize(
  r: StoredRecord,
  topic: string,
  limit: number,
  o: MqttBridgeOptions,
  bridgedId: string,
  generatePacket: GeneratePacket | undefined,
): number {
  const rough = r.payload.length + Buffer.byteLength(topic);
  if (rough < limit / 2) return rough;
  if (generatePacket === undefined) return rough;
  const opts = publishOptions(r, o, bridgedId);
  return generatePacket(
    { cmd: 'publish', topic, payload: r.payload, qos: 1, messageId: 1, retain: o.retain, dup: false, properties: opts.properties },
    { protocolVersion: 5 },
  ).length;
}

/**
 * Publish `r` at QoS 1; the result at its PUBACK, or its failure (publishFailure). `refused` is told
 * the code of a refusal with a reason code (an ACL, a quota: the broker's verdict on this record).
 * `callbacks` collects the send's publish callbacks, by which forgetStored finds its stored copies.
 */
export function publishOne(
  c: MqttClient,
  r: StoredRecord,
  topic: string,
  o: MqttBridgeOptions,
  bridgedId: string,
  callbacks: Set<unknown>,
  refused: (code: PublishFailureCode) => void,
): Promise<RecordResult> {
  const opts = publishOptions(r, o, bridgedId);
  return new Promise<RecordResult>((resolve) => {
    const done = (err?: Error): void => {
      if (!err) return resolve(OK);
      const res = publishFailure(err, topic, o);
      if (res.code !== 'PUBLISH_FAILED') refused(res.code);
      resolve(res);
    };
    callbacks.add(done);
    c.publish(topic, r.payload, opts, done);
  });
}

/**
 * Drop the client's stored copies of a send's unacknowledged PUBLISHes (cut off, or no PUBACK in
 * time; mqtt.js keeps them to resend at the reconnect): the loop resends those records itself. A
 * copy the broker will not take (over its packet size limit) would cut every new connection before
 * anything else; and mqtt.js replays its copies one at a time, each waiting for its PUBACK, before
 * any new PUBLISH, while they grew with every timed-out retry of a broker that stopped answering.
 */
export function forgetStored(c: MqttClient, callbacks: Set<unknown>): void {
  for (const [id, entry] of Object.entries(c.outgoing)) if (callbacks.has(entry.cb)) c.removeOutgoingMessage(Number(id));
}

/** How a send ended for its records left without a PUBACK. */
export interface SendEnd {
  /** The connection is still up (no PUBACK within ackTimeoutMs). */
  connected: boolean;
  /** The link dropped under the send before any PUBACK of it (and not by the loop's abort). */
  cutBeforeAck: boolean;
  /** The records in the send, the broker's DISCONNECT reason code, the client id: for cutOffError. */
  count: number;
  closeReason: number | undefined;
  clientId: string;
}

/**
 * The result of a record left without a PUBACK (`topic`: its remote topic). After other records'
 * PUBACKs a dropped link is the link's state: an outage (DISCONNECTED, never counted). Before any
 * PUBACK it may be a record the broker will not take (a broker drops a client whose PUBLISH exceeds
 * its packet size limit or its ACL, and says nothing: mqtt-hints.ts cutOffError): record-level, so
 * the loop isolates the records as for an HTTP 500 and counts a failure only with evidence
 * (docs/upstream.md, item 7); a plain disconnect counts nothing.
 */
export function unansweredResult(end: SendEnd, topic: string | undefined): RecordResult {
  if (end.connected) return { ok: false, retryable: true, error: 'no PUBACK in time', code: 'TIMEOUT' };
  if (end.cutBeforeAck) return { ok: false, retryable: true, error: cutOffError(end.count, topic!, end.closeReason, end.clientId), code: 'CUT_OFF' };
  return { ok: false, retryable: true, error: 'disconnected before PUBACK', code: 'DISCONNECTED' };
}
