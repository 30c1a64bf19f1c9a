// SUBSCRIBE and UNSUBSCRIBE of an MQTT 5 connection: subscription options (No Local, Retain As
// Published, Retain Handling), subscription identifiers, shared subscriptions, the ACL, and the
// retained messages a new subscription gets after its SUBACK. Apart from connection.ts, one
// handler per packet type as in aedes (lib/handlers/subscribe.js, unsubscribe.js): what they
// change is the session's subscriptions and the router, not the connection.
import type { ISubscribePacket, IUnsubscribePacket, Packet } from 'mqtt-packet';
import { parseSharedFilter, validFilter } from '../../../core/topic-filter.js';
import { reservedSubscription } from '../acl.js';
import { RC, clientFault } from './codes.js';
import { topicForLog, utf8LengthOver } from '../identifier-limits.js';
import { forwardProperties, fit } from './router.js';
import type { PublishProperties, SessionLink, SubEntry } from './session.js';
import type { AcceptedConnection } from './types.js';

export function handleSubscribe(conn: AcceptedConnection, p: ISubscribePacket): void {
  const ctx = conn.ctx;
  const session = conn.session;
  const st = conn.st;
  if (p.subscriptions.length === 0) return clientFault(conn, RC.PROTOCOL_ERROR, 'SUBSCRIBE with no topic filter [MQTT-3.8.3-2]');
  const subId = p.properties?.subscriptionIdentifier;
  const granted: number[] = [];
  const retainedFor: SubEntry[] = [];
  let why: string | undefined;
  for (const s of p.subscriptions) {
    const shared = parseSharedFilter(s.topic);
    const share = shared?.group;
    const topicFilter = shared ? shared.filter : s.topic;
    if (shared) {
      if (shared.group === '' || /[+#]/.test(shared.group) || s.nl) {
        granted.push(RC.TOPIC_FILTER_INVALID);
        why = `invalid shared subscription '${s.topic}'`;
        continue;
      }
    }
    const filterBytes = utf8LengthOver(s.topic, ctx.options.maxTopicLength);
    if (filterBytes !== undefined) {
      ctx.stats.topicTooLong++;
      ctx.rateLog(
        'subscribe-topic-too-long',
        { client: conn.clientId, user: st.user, filter: topicForLog(s.topic), bytes: filterBytes, maxTopicLength: ctx.options.maxTopicLength },
        'topic filter over broker.maxTopicLength refused (SUBACK 0x8F)',
      );
      granted.push(RC.TOPIC_FILTER_INVALID);
      why = `topic filter of ${filterBytes} bytes refused: over broker.maxTopicLength (${ctx.options.maxTopicLength})`;
      continue;
    }
    if (!validFilter(topicFilter)) {
      granted.push(RC.TOPIC_FILTER_INVALID);
      why = `invalid topic filter '${s.topic}'`;
      continue;
    }
    const reserved = reservedSubscription(s.topic);
    if (reserved !== undefined) {
      ctx.stats.aclDeniedSubscribe++;
      ctx.rateLog(
        'reserved-subscribe',
        { client: conn.clientId, user: st.user, filter: s.topic, why: reserved },
        'subscription to a reserved topic refused (SUBACK 0x80)',
      );
      granted.push(RC.UNSPECIFIED);
      why = `subscription to '${s.topic}' refused: ${reserved}`;
      continue;
    }
    const verdict = st.acl.subscribe(topicFilter);
    if (verdict === 'deny') {
      ctx.stats.aclDeniedSubscribe++;
      ctx.rateLog('acl-subscribe', { client: conn.clientId, user: st.user, filter: s.topic }, 'subscription denied by ACL (SUBACK 0x80)');
      // 0x80 as for 3.1.1 (what the Paho suite checks); the reason string says why
      granted.push(RC.UNSPECIFIED);
      why = `subscription to '${s.topic}' not authorized`;
      continue;
    }
    const max = ctx.options.maxSubscriptionsPerClient;
    if (max > 0 && session.subs.size >= max && !session.subs.has(s.topic)) {
      ctx.stats.subscriptionsRefused++;
      ctx.rateLog(
        'subscription-limit',
        { client: conn.clientId, user: st.user, filter: s.topic, maxSubscriptionsPerClient: max, refused: ctx.stats.subscriptionsRefused },
        'subscription over broker.maxSubscriptionsPerClient refused (SUBACK 0x97)',
      );
      granted.push(RC.QUOTA_EXCEEDED);
      why = `subscription to '${s.topic}' refused: the client holds ${max} topic filters (broker.maxSubscriptionsPerClient)`;
      continue;
    }
    if (verdict === 'filter') st.filterDeliveries = true;
    const entry: SubEntry = {
      filter: s.topic,
      topicFilter,
      levels: topicFilter.split('/'),
      share,
      qos: s.qos,
      nl: s.nl ?? false,
      rap: s.rap ?? false,
      rh: s.rh ?? 0,
      id: subId,
    };
    const existed = session.subs.get(s.topic);
    if (existed) ctx.router.remove(session, existed);
    session.subs.set(s.topic, entry);
    ctx.router.add(session, entry);
    granted.push(s.qos);
    if (share === undefined && (entry.rh === 0 || (entry.rh === 1 && !existed))) retainedFor.push(entry);
  }
  conn.write({ cmd: 'suback', messageId: p.messageId!, granted, ...(why ? { properties: { reasonString: why } } : {}) });
  ctx.sessions.changed(session);
  for (const e of retainedFor) void sendRetained(conn, e);
}

/**
 * Retained messages for a new subscription, after its SUBACK, paced: each waits while the session's
 * queue holds half of mqtt5.maxQueuedMessages or of outbound.maxQueueBytes (the other half is for
 * live messages), and goes once the client has read enough. All of them were queued at once: past
 * mqtt5.maxQueuedMessages (1,000) they were dropped, so a SUBSCRIBE to `devices/+/state` over 20,000
 * retained messages got ~1,230 of them. The set is read from the store as sent (a lazy stream), so
 * memory holds the queue's half, not the matching set.
 *
 * The delivery goes on while the subscription is still the session's and the session is connected
 * (a takeover that keeps the session goes on with the new connection) and ends, its stream closed,
 * when the session's connection closes (a client gone, or disconnected as slow after drainTimeoutMs
 * with its socket full), at an UNSUBSCRIBE or a new SUBSCRIBE to the same filter (which starts its
 * own), or at the broker's stop. Each of these wakes the wait (Outbound.pumped: the next pump or
 * the link's close), so no wait outlives them.
 */
async function sendRetained(conn: AcceptedConnection, e: SubEntry): Promise<void> {
  const ctx = conn.ctx;
  const session = conn.session;
  const markMessages = Math.max(1, Math.floor(ctx.options.mqtt5.maxQueuedMessages / 2));
  const markBytes = Math.max(1, Math.floor(ctx.options.outbound.maxQueueBytes / 2));
  const link = (): SessionLink | undefined =>
    session.subs.get(e.filter) === e && session.link !== undefined && !session.link.closed && !ctx.stopping() ? session.link : undefined;
  try {
    for await (const r of ctx.retained(e.topicFilter)) {
      let l = link();
      while (l && session.queue.length > 0 && (session.queue.length >= markMessages || session.queueBytes >= markBytes)) {
        await l.pumped();
        l = link();
      }
      if (!l) return;
      if (ctx.retainedSuperseded(r.topic, r.payload)) continue;
      if (r.messageExpiry !== undefined && r.messageExpiry <= ctx.monotonic()) continue;
      const payload = typeof r.payload === 'string' ? Buffer.from(r.payload) : r.payload;
      ctx.deliver(
        session,
        fit(
          {
            topic: r.topic,
            payload,
            qos: r.qos,
            retain: true,
            properties: forwardProperties(r.properties as PublishProperties | undefined),
            expiresAt: r.messageExpiry,
          },
          [e],
          true,
        ),
      );
    }
  } catch (err) {
    // Per SUBSCRIBE while it lasts: the broker's bounded log (once a minute per kind, with the count).
    ctx.rateLog('retained-read-failed', { err: (err as Error).message, filter: e.filter }, 'reading retained messages failed');
  }
}

export function handleUnsubscribe(conn: AcceptedConnection, p: IUnsubscribePacket): void {
  if (p.unsubscriptions.length === 0) return clientFault(conn, RC.PROTOCOL_ERROR, 'UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]');
  const session = conn.session;
  const codes: number[] = [];
  for (const f of p.unsubscriptions) {
    const e = session.subs.get(f);
    if (!e) {
      codes.push(0x11); // no subscription existed
      continue;
    }
    conn.ctx.router.remove(session, e);
    session.subs.delete(f);
    codes.push(RC.SUCCESS);
  }
  conn.write({ cmd: 'unsuback', messageId: p.messageId!, granted: codes } as Packet);
  conn.ctx.sessions.changed(session);
  // a retained delivery waiting on the queue for a filter removed here ends (sendRetained)
  session.link?.pump();
}

/**
 * A resumed session's subscriptions through the ACL of the client resuming it (as aedes does for
 * 3.1.1 sessions): another user presenting the owner's client id, or the owner after the ACL was
 * narrowed and the gateway restarted, keeps only what it may read. The messages already queued or
 * in flight for the session are then checked per message (filterDeliveries).
 */
export function reauthorizeSubscriptions(conn: AcceptedConnection): void {
  const { ctx, session, st } = conn;
  if (ctx.options.acl === undefined) return;
  st.filterDeliveries = true;
  let dropped = 0;
  for (const [key, e] of session.subs) {
    if (st.acl.subscribe(e.topicFilter) !== 'deny') continue;
    ctx.router.remove(session, e);
    session.subs.delete(key);
    ctx.stats.aclDeniedSubscribe++;
    dropped++;
    ctx.rateLog(
      'acl-resume',
      { client: conn.clientId, user: st.user, filter: e.filter },
      "a resumed session's subscription is not granted by the ACL of the client resuming it: dropped",
    );
  }
  if (dropped > 0) ctx.sessions.changed(session);
}
