// Routing to MQTT 5 sessions. aedes stays the message bus of the broker: every publish (from 3.1.1
// clients, v5 clients, wills and the gateway itself) goes through aedes.publish, so 3.1.1
// subscribers and the retained store see it; one aedes listener hands each message to this index
// of v5 subscriptions, which fits it to each session (QoS, no local, retain as published,
// subscription identifiers) and to one member of each matching $share group.
import type { Aedes, AedesPublishPacket } from 'aedes';
import type { OutMsg, PublishProperties, Session, SubEntry } from './session.js';
import { TopicTrie } from './topic-trie.js';

/**
 * A routed message as aedes carries it (aedes-packet keeps clientId and messageExpiry).
 * messageExpiry: the Message Expiry deadline on the monotonic clock (RuntimeDeps.monotonic).
 */
export type RoutedPacket = Omit<AedesPublishPacket, 'brokerId' | 'brokerCounter'> & { clientId?: string; messageExpiry?: number };

interface Bucket {
  levels: string[];
  members: Map<Session, SubEntry>;
  /** Creation order: a message's matches are taken in the order their filters were first subscribed. */
  seq: number;
}

interface ShareBucket extends Bucket {
  next: number;
}

export interface RouterDeps {
  aedes: Aedes;
  /** Give a fitted message to a session (queue + pump). */
  deliver(s: Session, msg: OutMsg): void;
  /** Monotonic ms (message expiry). */
  monotonic(): number;
}

/** Properties forwarded to subscribers: the publisher's, without its alias and subscription ids. */
export function forwardProperties(p: PublishProperties | undefined): PublishProperties | undefined {
  if (!p) return undefined;
  const { topicAlias: _a, subscriptionIdentifier: _s, ...rest } = p;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

export class V5Router {
  private readonly plain = new Map<string, Bucket>();
  private readonly shares = new Map<string, ShareBucket>();
  /** The same buckets indexed by filter level (routing cost: the topic's levels, not the filters). */
  private readonly plainIndex = new TopicTrie<Bucket>();
  /** Every $share group's bucket of one filter. */
  private readonly shareIndex = new TopicTrie<Set<ShareBucket>>();
  private seq = 0;
  private listening = false;
  private readonly onMessage = (packet: RoutedPacket, done: () => void): void => {
    try {
      this.route(packet);
    } finally {
      done();
    }
  };

  constructor(private readonly deps: RouterDeps) {}

  /** Listen on the aedes bus (once, when the first v5 subscription appears). */
  private ensureListening(): void {
    if (this.listening) return;
    this.listening = true;
    this.deps.aedes.subscribe('#', this.onMessage as never, () => undefined);
  }

  add(s: Session, e: SubEntry): void {
    this.ensureListening();
    if (e.share !== undefined) {
      const key = `${e.share}\u0000${e.topicFilter}`;
      let b = this.shares.get(key);
      if (!b) {
        this.shares.set(key, (b = { levels: e.levels, members: new Map(), next: 0, seq: this.seq++ }));
        let groups = this.shareIndex.get(e.levels);
        if (!groups) this.shareIndex.set(e.levels, (groups = new Set()));
        groups.add(b);
      }
      b.members.set(s, e);
      return;
    }
    let b = this.plain.get(e.topicFilter);
    if (!b) {
      this.plain.set(e.topicFilter, (b = { levels: e.levels, members: new Map(), seq: this.seq++ }));
      this.plainIndex.set(e.levels, b);
    }
    b.members.set(s, e);
  }

  remove(s: Session, e: SubEntry): void {
    if (e.share !== undefined) {
      const key = `${e.share}\u0000${e.topicFilter}`;
      const b = this.shares.get(key);
      if (b?.members.get(s) === e) b.members.delete(s);
      if (b && b.members.size === 0) {
        this.shares.delete(key);
        const groups = this.shareIndex.get(b.levels);
        groups?.delete(b);
        if (groups?.size === 0) this.shareIndex.delete(b.levels);
      }
      return;
    }
    const b = this.plain.get(e.topicFilter);
    if (b?.members.get(s) === e) b.members.delete(s);
    if (b && b.members.size === 0) {
      this.plain.delete(e.topicFilter);
      this.plainIndex.delete(b.levels);
    }
  }

  removeAll(s: Session): void {
    for (const e of s.subs.values()) this.remove(s, e);
  }

  close(): void {
    if (this.listening) this.deps.aedes.unsubscribe('#', this.onMessage as never, () => undefined);
    this.listening = false;
  }

  /** Every matching subscription of every session, then one message per session. */
  route(packet: RoutedPacket): void {
    const topic = packet.topic;
    // aedes' own $SYS chatter ($SYS/<aedes id>/heartbeat, new/clients...) never goes to v5
    // clients; the broker's figures ($SYS/broker/..., sys-topics.ts) do, as mosquitto's
    if (topic.startsWith('$SYS') && !topic.startsWith('$SYS/broker/')) return;
    let matched: Map<Session, SubEntry[]> | undefined;
    const add = (s: Session, e: SubEntry): void => {
      matched ??= new Map();
      const l = matched.get(s);
      if (l) l.push(e);
      else matched.set(s, [e]);
    };
    const plain: Bucket[] = [];
    this.plainIndex.match(topic, (b) => plain.push(b));
    if (plain.length > 1) plain.sort(bySeq);
    for (const b of plain) {
      for (const [s, e] of b.members) {
        if (e.nl && packet.clientId === s.clientId) continue; // no local [MQTT-3.8.3-3]
        add(s, e);
      }
    }
    const shared: ShareBucket[] = [];
    this.shareIndex.match(topic, (groups) => {
      for (const b of groups) shared.push(b);
    });
    if (shared.length > 1) shared.sort(bySeq);
    for (const b of shared) {
      const pick = this.pickMember(b);
      if (pick) add(pick[0], pick[1]);
    }
    if (!matched) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const properties = forwardProperties(packet.properties as PublishProperties | undefined);
    const expiresAt = packet.messageExpiry;
    if (expiresAt !== undefined && expiresAt <= this.deps.monotonic()) return;
    for (const [s, entries] of matched) {
      this.deps.deliver(s, fit({ topic, payload, qos: packet.qos, retain: packet.retain, properties, expiresAt }, entries, false));
    }
  }

  /** Round robin over the group, connected members first (an offline member's queue would hold it). */
  private pickMember(b: ShareBucket): [Session, SubEntry] | undefined {
    const members = [...b.members];
    if (members.length === 0) return undefined;
    for (let i = 0; i < members.length; i++) {
      const m = members[(b.next + i) % members.length]!;
      if (m[0].link) {
        b.next = (b.next + i + 1) % members.length;
        return m;
      }
    }
    const m = members[b.next % members.length]!;
    b.next = (b.next + 1) % members.length;
    return m;
  }
}

const bySeq = (a: { seq: number }, b: { seq: number }): number => a.seq - b.seq;

/**
 * Fit a message to a session's matching subscriptions: the highest granted QoS (at most the
 * published one), every subscription identifier, and the retain flag per Retain As Published
 * (always set for retained messages sent on SUBSCRIBE).
 */
export function fit(
  m: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean; properties: PublishProperties | undefined; expiresAt: number | undefined },
  entries: SubEntry[],
  onSubscribe: boolean,
): OutMsg {
  let qos = 0;
  let rap = false;
  let subIds: number[] | undefined;
  for (const e of entries) {
    if (e.qos > qos) qos = e.qos;
    if (e.rap) rap = true;
    if (e.id !== undefined) (subIds ??= []).push(e.id);
  }
  return {
    topic: m.topic,
    payload: m.payload,
    qos: Math.min(qos, m.qos) as 0 | 1 | 2,
    retain: onSubscribe ? true : rap && m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    subIds,
  };
}
