// The per-client queues of MQTT 3.1.1 sessions, kept here instead of in aedes' memory
// persistence (aedes-persistence 11), whose queue methods are replaced on the instance:
//   - outgoing: QoS 1/2 messages for a client (queued while it is offline, in flight while online);
//   - incoming: QoS 2 publishes received and not yet released (the PUBREL dedup store).
// Why not aedes-persistence's own:
//   - it never deleted a client's entry: every client id that ever PUBACKed (clean or not) kept
//     an empty queue (~100 bytes), and every QoS 2 publisher an empty store, for the life of the
//     process. Devices with random client ids (mosquitto_pub/sub, many libraries' defaults) grew
//     the heap by ~100 bytes per connection, without bound (a million ids: ~100 MB). Here an
//     entry goes when it empties, and a clean client's PUBACK never makes one;
//   - no bound: aedes queued every QoS 1/2 message for an offline client (a device offline for a
//     day under 10 msg/s of 2 KiB held 1.7 GB on a Pi). As mosquitto's max_queued_messages and
//     the v5 sessions' mqtt5.maxQueuedMessages: past `maxQueuedMessages` messages or
//     `outbound.maxQueueBytes` payload bytes, further messages for an offline client are dropped
//     and counted. A connected client's queue (its in-flight messages) is bounded by the outbound
//     limits instead;
//   - PUBRELs were found by the wrong key (outgoingUpdate below): QoS 2 messages were lost;
//   - a session must be droppable as a whole (persistent-sessions.ts evicts the oldest);
//   - its QoS 2 store kept a full copy (payload too) of each publish until PUBREL, and aedes bounds
//     unreleased ones per connection only (maxInflightInbound): a persistent session whose client
//     withheld its PUBRELs and reconnected took 1,000 more at each connection, up to 65,535
//     payloads (16 GiB at maxPayloadBytes). aedes reads a stored packet back only to know that its
//     id is there (a duplicate PUBLISH, a PUBREL): the store keeps the ids alone, at most
//     QOS2_PENDING_MAX per client (as the v5 sessions' inboundQos2, held to the Receive Maximum);
//     a new one beyond that forgets the oldest (an id of an earlier connection: aedes refuses the
//     1,001st of one connection first), counted and logged at a bounded rate. An id forgotten
//     costs at most a duplicate, if the client sends that PUBLISH again before its PUBREL.
// Semantics are aedes-persistence's otherwise (same errors, a per-subscriber copy of each packet,
// outgoingStream over a snapshot), so aedes behaves as with its own.
import { Readable } from 'node:stream';
import type { AedesPersistence } from 'aedes-persistence';
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';

type Sub = { clientId: string };
/** aedes' Client: its id, and the next packet id it gives (aedes/lib/qos-packet.js). */
type Client = { id: string; _nextId?: number };
/** A queued packet: aedes-persistence's Packet (a copy per subscriber), as aedes reads it back. */
export interface QueuedPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  properties?: unknown;
}
type PacketCtor = new (original: object) => QueuedPacket;

/** The queue methods aedes calls on its persistence, promise style (aedes 1.x). */
interface QueueMethods {
  outgoingEnqueue(sub: Sub, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: Sub[], packet: QueuedPacket): Promise<void>;
  outgoingUpdate(client: Client, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<QueuedPacket | undefined>;
  outgoingStream(client: Client): Readable;
  incomingStorePacket(client: Client, packet: QueuedPacket): Promise<void>;
  incomingGetPacket(client: Client, packet: { messageId?: number }): Promise<QueuedPacket>;
  incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<void>;
  cleanIncoming(client: Client): Promise<void>;
}

export interface SessionQueuesDeps {
  /** maxQueuedMessages and outbound.maxQueueBytes bound each offline client's queue. */
  options: Pick<BrokerOptions, 'maxQueuedMessages' | 'outbound'>;
  stats: BrokerStats;
  rateLog: RateLog;
  /** Is a client with this id connected (aedes' client table)? */
  isConnected(clientId: string): boolean;
  /** aedes-persistence's Packet (copies a packet for one subscriber). */
  Packet: PacketCtor;
}

export interface SessionQueues {
  /** Messages and payload bytes queued for a client; undefined when none. */
  queued(clientId: string): { messages: number; bytes: number } | undefined;
  /** Drop all a client's queued messages and its QoS 2 store (its session is evicted); returns the messages dropped. */
  drop(clientId: string): number;
  /** Client ids with an outgoing queue, and with an incoming store (tests, status). */
  sizes(): { outgoing: number; incoming: number };
}

interface Queue {
  packets: QueuedPacket[];
  bytes: number;
  /** How many packets of the queue hold each packet id (those given one: delivered, in flight). */
  ids: Map<number, number>;
}

/** `delta` packets of `q` hold packet id `id` (none: undefined). */
function countId(q: Queue, id: number | undefined, delta: number): void {
  if (id === undefined) return;
  const n = (q.ids.get(id) ?? 0) + delta;
  if (n > 0) q.ids.set(id, n);
  else q.ids.delete(id);
}

/** Not a broker id aedes makes (those are uuids): marks a PUBREL in the outgoing queue. */
const PUBREL_BROKER_ID = '\u0000pubrel';

/**
 * A packet id no packet of the queue holds (`held`: its counts), from the client's next id on,
 * and the client's next id moved past it. aedes gives ids 1..65535 in turn without skipping those still in flight
 * (aedes/lib/qos-packet.js): after 65,535 deliveries an id held by a client that had not PUBACKed
 * it went to a new message, whose PUBACK then cleared the older one from the session (the first
 * of its id, outgoingClearMessageId), so at the reconnect the message never acknowledged was not
 * sent again and the one acknowledged was. Undefined when all 65,535 are held (the caller keeps
 * the id aedes gave).
 */
function freeId(client: Client, held: ReadonlyMap<number, number>): number | undefined {
  let id = client._nextId ?? 1;
  for (let n = 0; n < 65535; n++, id = id >= 65535 ? 1 : id + 1) {
    if (held.has(id)) continue;
    client._nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }
  return undefined;
}

/** Payload bytes of a packet's payload (aedes keeps a string payload as given). */
export function payloadBytes(p: Buffer | string | undefined): number {
  return typeof p === 'string' ? Buffer.byteLength(p) : (p?.length ?? 0);
}

/** The bytes MQTT 5 properties take: their strings, binary values and user properties (names and values); 4 a number. */
export function propertiesBytes(p: unknown): number {
  if (p === undefined || p === null) return 0;
  if (typeof p === 'string') return Buffer.byteLength(p);
  if (Buffer.isBuffer(p)) return p.length;
  if (typeof p === 'number' || typeof p === 'boolean') return 4;
  if (Array.isArray(p)) return p.reduce((n: number, v: unknown) => n + propertiesBytes(v), 0);
  if (typeof p !== 'object') return 0;
  let n = 0;
  // (user properties are an object of name -> value or values: names count as well as values)
  for (const [k, v] of Object.entries(p)) n += Buffer.byteLength(k) + propertiesBytes(v);
  return n;
}

/**
 * What a queued packet counts in outbound.maxQueueBytes: its payload and its MQTT 5 properties (a
 * v5 publisher's, kept on the copy: ~64 KiB of user properties beside a one-byte payload passed
 * the byte bound 16 times over).
 */
const size = (p: QueuedPacket): number => payloadBytes(p.payload) + propertiesBytes(p.properties);

const noSuchPacket = (): Error => new Error('no such packet');

/**
 * QoS 2 publishes held awaiting PUBREL per client id, across its connections; also aedes'
 * maxInflightInbound (index.ts), its bound within one connection, so that only ids of earlier
 * connections are forgotten.
 */
export const QOS2_PENDING_MAX = 1000;
const NO_PAYLOAD = Buffer.alloc(0);

/** Replace the persistence's queue methods with bounded ones that free what empties. */
export function installSessionQueues(persistence: AedesPersistence, deps: SessionQueuesDeps): SessionQueues {
  const p = persistence as unknown as QueueMethods;
  const { stats, rateLog, Packet } = deps;
  const maxMessages = deps.options.maxQueuedMessages;
  const maxBytes = deps.options.outbound.maxQueueBytes;
  const outgoing = new Map<string, Queue>();
  /** Client id -> packet ids of QoS 2 publishes received and not yet released (Set order: oldest first). */
  const incoming = new Map<string, Set<number>>();
  const dropIncoming = (id: string): void => {
    const store = incoming.get(id);
    if (!store) return;
    stats.qos2Pending -= store.size;
    incoming.delete(id);
    stats.qos2StoreClients = incoming.size;
  };

  const push = (id: string, packet: QueuedPacket): void => {
    const copy = new Packet(packet);
    const q = outgoing.get(id);
    if (q) {
      q.packets.push(copy);
      q.bytes += size(copy);
      countId(q, copy.messageId, 1);
    } else {
      const ids = new Map<number, number>();
      if (copy.messageId !== undefined) ids.set(copy.messageId, 1);
      outgoing.set(id, { packets: [copy], bytes: size(copy), ids });
      stats.queuedClients = outgoing.size;
    }
  };
  const full = (id: string, bytes: number): boolean => {
    const q = outgoing.get(id);
    return q !== undefined && (q.packets.length >= maxMessages || q.bytes + bytes > maxBytes);
  };
  const removeAt = (id: string, q: Queue, i: number): QueuedPacket => {
    const [removed] = q.packets.splice(i, 1) as [QueuedPacket];
    q.bytes -= size(removed);
    countId(q, removed.messageId, -1);
    if (q.packets.length === 0) {
      outgoing.delete(id);
      stats.queuedClients = outgoing.size;
    }
    return removed;
  };

  // aedes calls this for a connected persistent client's own deliveries: not bounded here.
  p.outgoingEnqueue = async (sub, packet) => push(sub.clientId, packet);
  p.outgoingEnqueueCombi = async (subs, packet) => {
    // aedes calls this for every QoS 1/2 publish, most with no persistent subscriber
    if (subs.length === 0) return;
    const bytes = size(packet);
    for (const s of subs) {
      if (!deps.isConnected(s.clientId) && full(s.clientId, bytes)) {
        stats.offlineDropped++;
        rateLog(
          'offline-full',
          { client: s.clientId, topic: packet.topic, maxQueuedMessages: maxMessages, dropped: stats.offlineDropped },
          'offline session queue full: message dropped',
        );
        continue;
      }
      push(s.clientId, packet);
    }
  };
  // aedes-persistence's outgoingUpdate finds a queued packet by brokerId and brokerCounter, which a
  // PUBREL has neither of: with two QoS 2 messages in flight, the second PUBREL matched the first
  // (undefined === undefined) and rewrote its packet id before it was written. The client got the
  // second PUBREL twice and never the first: that message, PUBCOMPed to its publisher, was never
  // delivered. A PUBREL gets a key of its own (its packet id) before it is stored.
  p.outgoingUpdate = async (client, packet) => {
    if (packet.cmd === 'pubrel' && packet.brokerId === undefined && packet.messageId !== undefined) {
      packet.brokerId = PUBREL_BROKER_ID;
      packet.brokerCounter = -packet.messageId;
    }
    const q = outgoing.get(client.id);
    if (q === undefined) throw noSuchPacket();
    const list = q.packets;
    // A delivery given an id another packet of the session still holds (aedes' ids wrapped past
    // 65,535): another id, before aedes writes the packet (it writes this object once this resolves).
    // The count finds most ids free at once; the walk tells a resend (its own packet holds the id).
    const id = packet.messageId;
    if (packet.cmd !== 'pubrel' && id !== undefined && q.ids.has(id)) {
      const taken = list.some((held) => held.messageId === id && !(held.brokerId === packet.brokerId && held.brokerCounter === packet.brokerCounter));
      if (taken) packet.messageId = freeId(client, q.ids) ?? id;
    }
    for (let i = 0; i < list.length; i++) {
      const held = list[i] as QueuedPacket;
      if (held.brokerId === packet.brokerId) {
        if (held.brokerCounter === packet.brokerCounter) {
          countId(q, held.messageId, -1);
          countId(q, packet.messageId, 1);
          held.messageId = packet.messageId;
          return;
        }
        // a packet id is reused after 65,535: keep looking for the same brokerCounter
      } else if (held.messageId === packet.messageId) {
        q.bytes += size(packet) - size(held);
        list[i] = packet;
        return;
      }
    }
    throw noSuchPacket();
  };
  p.outgoingClearMessageId = async (client, packet) => {
    // A clean client's PUBACK finds no queue and makes none (aedes-persistence made an empty one).
    const q = outgoing.get(client.id);
    if (q === undefined) return undefined;
    const i = q.packets.findIndex((held) => held.messageId === packet.messageId);
    return i < 0 ? undefined : removeAt(client.id, q, i);
  };
  // a snapshot: aedes clears entries while it reads the stream
  p.outgoingStream = (client) => Readable.from(outgoing.get(client.id)?.packets.slice() ?? []);

  p.incomingStorePacket = async (client, packet) => {
    const id = packet.messageId as number;
    let store = incoming.get(client.id);
    if (!store) {
      incoming.set(client.id, (store = new Set()));
      stats.qos2StoreClients = incoming.size;
    }
    if (store.has(id)) return;
    if (store.size >= QOS2_PENDING_MAX) {
      const oldest = store.values().next().value as number;
      store.delete(oldest);
      stats.qos2Pending--;
      stats.qos2Forgotten++;
      rateLog(
        'qos2-forgotten',
        { client: client.id, messageId: oldest, max: QOS2_PENDING_MAX, forgotten: stats.qos2Forgotten },
        'MQTT 3.1.1 QoS 2 publishes awaiting PUBREL: the oldest packet id of this client forgotten (its PUBRELs withheld across connections)',
      );
    }
    store.add(id);
    stats.qos2Pending++;
  };
  // aedes only asks whether the id is held: a packet without its payload answers that.
  p.incomingGetPacket = async (client, packet) => {
    const id = packet.messageId as number;
    if (!incoming.get(client.id)?.has(id)) throw noSuchPacket();
    return { cmd: 'publish', topic: '', payload: NO_PAYLOAD, messageId: id };
  };
  p.incomingDelPacket = async (client, packet) => {
    const store = incoming.get(client.id);
    if (!store?.delete(packet.messageId as number)) throw noSuchPacket();
    stats.qos2Pending--;
    if (store.size === 0) {
      incoming.delete(client.id);
      stats.qos2StoreClients = incoming.size;
    }
  };
  p.cleanIncoming = async (client) => dropIncoming(client.id);

  return {
    queued: (clientId) => {
      const q = outgoing.get(clientId);
      return q && { messages: q.packets.length, bytes: q.bytes };
    },
    drop: (clientId) => {
      const n = outgoing.get(clientId)?.packets.length ?? 0;
      outgoing.delete(clientId);
      dropIncoming(clientId);
      stats.queuedClients = outgoing.size;
      return n;
    },
    sizes: () => ({ outgoing: outgoing.size, incoming: incoming.size }),
  };
}
