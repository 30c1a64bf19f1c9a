// Client -> server side of an MQTT 5 connection: inbound PUBLISH (topic aliases, Receive Maximum,
// payload format check, authorizePublish, i.e. the commit, then PUBACK/PUBREC, or a negative one
// with a reason code: the connection stays up) and PUBREL -> PUBCOMP. Apart from connection.ts
// because this is the publish path of a v5 client and has its own state (the aliases the client
// set and the count of publishes not yet answered); outbound.ts is the other direction.
import { isUtf8 } from 'node:buffer';
import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import type { PublishPacket } from 'aedes';
import { RC, clientFault, coded, reasonForCommitError, reasonString } from './codes.js';
import { forwardProperties } from './router.js';
import type { AcceptedConnection } from './types.js';

export class Inbound {
  private readonly aliasesIn = new Map<number, string>();
  /** QoS 1/2 publishes received and not yet answered (with inboundQos2: the Receive Maximum count). */
  private inboundPending = 0;

  constructor(private readonly conn: AcceptedConnection) {}

  onPublish(p: IPublishPacket): void {
    const conn = this.conn;
    const ctx = conn.ctx;
    const session = conn.session;
    const props = p.properties;
    let topic = p.topic;
    const alias = props?.topicAlias;
    if (alias !== undefined) {
      if (alias === 0 || alias > ctx.topicAliasMaximum)
        return clientFault(conn, RC.TOPIC_ALIAS_INVALID, `topic alias ${alias} outside 1..${ctx.topicAliasMaximum}`);
      if (topic === '') {
        const known = this.aliasesIn.get(alias);
        if (known === undefined) return clientFault(conn, RC.PROTOCOL_ERROR, `topic alias ${alias} was never set on this connection`);
        topic = known;
      } else this.aliasesIn.set(alias, topic);
    }
    if (topic === '' || topic.includes('+') || topic.includes('#')) return clientFault(conn, RC.TOPIC_NAME_INVALID, `invalid topic name '${topic}'`);
    const qos = p.qos;
    const id = p.messageId;
    if (qos === 2 && session.inboundQos2.has(id!)) {
      // a resent QoS 2 PUBLISH already committed: only the PUBREC again
      return conn.write({ cmd: 'pubrec', messageId: id!, reasonCode: RC.SUCCESS });
    }
    if (qos > 0) {
      if (this.inboundPending + session.inboundQos2.size >= ctx.receiveMaximum) {
        // mqtt.js 5 does not hold back for the server's Receive Maximum: a fast publisher meets this
        return clientFault(conn, RC.RECEIVE_MAXIMUM_EXCEEDED, `more than ${ctx.receiveMaximum} QoS 1/2 publishes in flight (Receive Maximum)`);
      }
      this.inboundPending++;
    }
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
    if (props?.payloadFormatIndicator === true && !isUtf8(payload)) {
      return this.answer(p, coded(RC.PAYLOAD_FORMAT_INVALID, 'payload format indicator says UTF-8 but the payload is not valid UTF-8'));
    }
    const fwd = forwardProperties(props);
    const packet = { cmd: 'publish', topic, payload, qos, retain: p.retain, dup: false, ...(fwd ? { properties: fwd } : {}) } as PublishPacket;
    ctx.hooks.authorizePublish(conn.client, packet, (err) => {
      this.answer(p, err ?? undefined);
      if (err) return;
      const expiry = fwd?.messageExpiryInterval;
      ctx.route({ ...packet, clientId: conn.clientId, ...(expiry !== undefined ? { messageExpiry: ctx.monotonic() + expiry * 1000 } : {}) });
    });
  }

  /** PUBREL of a QoS 2 publish: PUBCOMP, 0x92 if its PUBREC was never sent. */
  onPubrel(p: IPubrelPacket): void {
    const known = this.conn.session.inboundQos2.delete(p.messageId!);
    this.conn.write({ cmd: 'pubcomp', messageId: p.messageId!, reasonCode: known ? RC.SUCCESS : RC.PACKET_ID_NOT_FOUND });
  }

  /** PUBACK/PUBREC after the commit (or its refusal: a negative reason code, the connection stays). */
  private answer(p: IPublishPacket, err: Error | undefined): void {
    const conn = this.conn;
    if (p.qos > 0) this.inboundPending--;
    if (conn.isClosed()) return;
    if (conn.st.waiting.length === 0 && conn.socket.isPaused()) conn.socket.resume();
    if (!err) {
      if (p.qos === 1) conn.write({ cmd: 'puback', messageId: p.messageId!, reasonCode: RC.SUCCESS });
      else if (p.qos === 2) {
        conn.session.inboundQos2.add(p.messageId!);
        conn.write({ cmd: 'pubrec', messageId: p.messageId!, reasonCode: RC.SUCCESS });
      }
      return;
    }
    const rc = reasonForCommitError(err);
    // an oversized publish is answered by DISCONNECT 0x95 (not a PUBACK code); at QoS 0 the rest is
    // dropped, as there is nothing to answer (counted by the hooks)
    if (rc === RC.PACKET_TOO_LARGE) return conn.disconnect(rc, reasonString(err));
    if (p.qos === 0) return;
    conn.ctx.stats.v5NegativeAcks++;
    conn.write({ cmd: p.qos === 1 ? 'puback' : 'pubrec', messageId: p.messageId!, reasonCode: rc, properties: { reasonString: reasonString(err) } });
  }
}
