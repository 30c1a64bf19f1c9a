// The retained messages a 3.1.1 SUBSCRIBE matches, sent by the gateway for aedes, so that each
// delivery knows the client and the filters it was started for and ends when they are gone.
//
// aedes (lib/handlers/subscribe.js, completeSubscribe) writes the SUBACK, emits 'subscribe' with
// the granted filters and the client, then, in the same synchronous run, opens
// persistence.createRetainedStreamCombi(filters) and pipes it to client.deliverQoS. Nothing in the
// packets it hands over says which SUBSCRIBE they are for, and nothing ends the pipe but the
// stream's end: an UNSUBSCRIBE did not stop it (a client that subscribed to `devices/#` over
// 20,000 retained messages and unsubscribed at once got 19,750 of them after its UNSUBACK), and a
// SUBSCRIBE again to the filter started a second delivery beside the first (19,750 duplicates).
//
// Here the 'subscribe' event claims the call that follows: that call gets an empty stream (aedes
// pipes nothing) and the delivery is run here, through the same client.deliverQoS (the paced,
// bounded one of outbound.ts) with the packet aedes would have made (but at most at the QoS the
// SUBSCRIBE granted, which aedes did not check for a wildcard filter). Each packet is remembered
// with its delivery (outbound.ts asks wanted() before it sends one, a held one too), and a delivery
// ends, its stream closed, when:
// - an UNSUBSCRIBE or a SUBSCRIBE naming its filter arrives (seen at the parser, before aedes
//   handles it: aedes writes the UNSUBACK a turn later, after the messages already handed to the
//   socket, so none comes after it; [MQTT-3.10.4-2]/[MQTT-3.10.4-3], [MQTT-3.8.4-3] for a new
//   SUBSCRIBE, which starts its own delivery; one refused by the ACL ends it too); a SUBSCRIBE of
//   several filters ends when all are gone, and until then sends only the topics a remaining filter
//   matches;
// - its connection closes (a client gone, taken over, disconnected as slow, the broker's stop), as
//   before (outbound.ts lets a held message through, sending nothing), or at its last message.
// MQTT 5 connections are not aedes clients: v5/subscribe.ts runs theirs.
import { Readable, Writable } from 'node:stream';
import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes';
import { matchTopic } from '../../core/topic-filter.js';
import type { RateLog } from '../../core/rate-log.js';

/** A retained message as aedes' store yields it. */
interface StoredRetained {
  cmd?: string;
  topic: string;
  payload?: Buffer | string;
  qos?: 0 | 1 | 2;
}

type OpenRetained = (patterns: string[]) => Readable;

/** aedes internals used here (not in its typings). */
type ClientInternals = Client & {
  broker: Aedes & { counter: number };
  closed?: boolean;
  deliverQoS(packet: AedesPublishPacket, cb: () => void): void;
  _parser: { prependListener(event: 'packet', f: (p: ParsedPacket) => void): void; removeListener(event: 'packet', f: (p: ParsedPacket) => void): void };
};
type ParsedPacket = { cmd: string; subscriptions?: { topic: string }[]; unsubscriptions?: string[] };

/** The delivery a retained packet made here belongs to (aedes copies only the fields it knows when it writes it). */
const DELIVERY = Symbol('retained delivery');

interface Delivery {
  client: ClientInternals;
  /** The filters still wanted: their levels (matchTopic) and the QoS their SUBSCRIBE granted. */
  filters: Map<string, { levels: string[]; qos: number }>;
  /** How many it started with: while all are there, every message of the stream is wanted. */
  started: number;
  /** Its stream from the store (piped to deliverQoS), destroyed when it ends. */
  stream: Readable;
}

/** A client's deliveries in progress, and the parser listener that ends them. */
interface ClientDeliveries {
  deliveries: Set<Delivery>;
  onPacket(p: ParsedPacket): void;
}

export class RetainedSubscribe {
  private readonly byClient = new Map<Client, ClientDeliveries>();
  /** The SUBSCRIBE whose retained stream aedes opens next (same synchronous run). */
  private claim: { client: ClientInternals; subs: { topic: string; qos: number }[] } | undefined;

  constructor(
    private readonly open: OpenRetained,
    private readonly rateLog: RateLog,
  ) {}

  /** Takes over aedes' retained delivery: persistence.createRetainedStreamCombi and the 'subscribe' event. */
  install(aedes: Aedes, persistence: { createRetainedStreamCombi: OpenRetained }): void {
    aedes.on('subscribe', (subs: Subscription[], client: Client) => this.subscribed(subs, client));
    persistence.createRetainedStreamCombi = (patterns) => this.take(patterns) ?? this.open(patterns);
  }

  /** aedes' 'subscribe': the granted filters (qos 128 is a refusal), as completeSubscribe lists them. */
  subscribed(subs: Subscription[], client: Client): void {
    const granted = subs.filter((s) => (s.qos as number) !== 128).map((s) => ({ topic: s.topic, qos: s.qos as number }));
    if (granted.length === 0) return;
    this.claim = { client: client as ClientInternals, subs: granted };
    // (aedes opens the stream in this run; a claim it did not take is not left for another)
    queueMicrotask(() => (this.claim = undefined));
  }

  /** The stream aedes asked for, when it is the claimed SUBSCRIBE's: run here, aedes gets an empty one. */
  private take(patterns: string[]): Readable | undefined {
    const claim = this.claim;
    this.claim = undefined;
    if (!claim || claim.subs.length !== patterns.length || claim.subs.some((s, i) => s.topic !== patterns[i])) return undefined;
    const { client } = claim;
    const mine = this.deliveriesOf(client);
    // a SUBSCRIBE whose arrival another one's handling overtook: the older delivery ends here
    for (const d of mine.deliveries) this.drop(d, patterns);
    const filters = new Map(claim.subs.map((s) => [s.topic, { levels: s.topic.split('/'), qos: s.qos }]));
    const d = { client, filters, started: patterns.length } as Delivery;
    mine.deliveries.add(d);
    this.run(d);
    return Readable.from([]);
  }

  /** Is this retained packet (outbound.ts: one sent at SUBSCRIBE) still wanted by its delivery? */
  wanted(packet: AedesPublishPacket): boolean {
    const d = (packet as { [DELIVERY]?: Delivery })[DELIVERY];
    return d === undefined || granted(d, packet.topic) >= 0;
  }

  /**
   * The stream piped to client.deliverQoS as aedes piped it (a promise per message cost ~15% more
   * CPU for a delivery): each write is called back by outbound.ts at once, or when the queue has
   * room, or at the connection's close. Ended (drop(), the client's close) the stream is destroyed:
   * what it had read ahead into the sink is called back unsent.
   */
  private run(d: Delivery): void {
    const broker = d.client.broker;
    const stream = this.open([...d.filters.keys()]);
    d.stream = stream;
    const sink = new Writable({
      objectMode: true,
      write: (r: StoredRetained, _enc, cb: () => void) => {
        if (d.filters.size === 0 || d.client.closed) {
          this.end(d);
          return cb();
        }
        const qos = granted(d, r.topic);
        if (qos < 0) return cb();
        // what aedes' completeSubscribe makes (aedes-packet's Packet, then brokerId = null: "should
        // not be deduped"; outbound.ts knows a retained message at SUBSCRIBE by that null)
        const packet = {
          cmd: r.cmd ?? 'publish',
          brokerId: null,
          brokerCounter: ++broker.counter,
          topic: r.topic,
          payload: r.payload ?? Buffer.alloc(0),
          // at most the QoS granted ([MQTT-3.8.4-6]): aedes lowered it only for a filter that is
          // the topic itself, so a QoS 0 subscription to ret/# got a message retained at 1 at 1
          qos: Math.min(r.qos ?? 0, qos),
          retain: true,
          dup: false,
          messageId: undefined,
          // (a field of the packet, not a WeakMap keyed by it: that cost ~5% more CPU)
          [DELIVERY]: d,
        } as unknown as AedesPublishPacket;
        d.client.deliverQoS(packet, cb);
      },
    });
    // (at its end too: Readable.from's streams destroy themselves)
    stream.once('close', () => this.forget(d));
    // aedes' pipe had no error handler on the stream; one read failing ends this delivery only
    stream.on('error', (err) => {
      this.rateLog('retained-read-failed', { err: err.message, filters: [...d.filters.keys()] }, 'reading retained messages failed');
      this.end(d);
    });
    stream.pipe(sink);
  }

  /** The delivery ends: its stream closed (gatehouse_mqtt_retained_deliveries counts it down), once. */
  private end(d: Delivery): void {
    if (!d.stream.destroyed) d.stream.destroy();
  }

  private deliveriesOf(client: ClientInternals): ClientDeliveries {
    let mine = this.byClient.get(client);
    if (mine) return mine;
    const deliveries = new Set<Delivery>();
    const onPacket = (p: ParsedPacket): void => {
      const named = p.cmd === 'unsubscribe' ? p.unsubscriptions : p.cmd === 'subscribe' ? p.subscriptions?.map((s) => s.topic) : undefined;
      if (named) for (const d of deliveries) this.drop(d, named);
    };
    mine = { deliveries, onPacket };
    this.byClient.set(client, mine);
    // only while a delivery is in progress: no cost on the other packets of the connection
    client._parser.prependListener('packet', onPacket);
    return mine;
  }

  /** The filters named leave the delivery; with none left it ends (its stream closed). */
  private drop(d: Delivery, named: readonly string[]): void {
    for (const f of named) d.filters.delete(f);
    if (d.filters.size === 0) this.end(d);
  }

  private forget(d: Delivery): void {
    const mine = this.byClient.get(d.client);
    if (!mine) return;
    mine.deliveries.delete(d);
    if (mine.deliveries.size > 0) return;
    this.byClient.delete(d.client);
    d.client._parser.removeListener('packet', mine.onPacket);
  }
}

/**
 * The QoS a topic the delivery's stream yields goes at (the highest its matching filters were
 * granted), or -1 when no filter that matches it remains (not sent).
 */
function granted(d: Delivery, topic: string): number {
  const all = d.filters.size === d.started;
  let qos = -1;
  for (const f of d.filters.values()) {
    // (one filter left of one: the stream yields only what it matches)
    if (d.started === 1 || matchTopic(f.levels, topic)) qos = Math.max(qos, f.qos);
  }
  // all there: the store matched it ('#' yields topics starting with '$', which matchTopic refuses)
  if (qos < 0 && all) for (const f of d.filters.values()) qos = Math.max(qos, f.qos);
  return qos;
}
