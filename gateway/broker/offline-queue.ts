// Two repairs of aedes' outgoing queue (its memory persistence) of MQTT 3.1.1 persistent sessions
// (clean: false), made by wrapping the persistence's queue methods:
// - a bound: aedes queued every QoS 1/2 message for an offline client without limit (a device
//   offline for a day under 10 msg/s of 2 KiB held 1.7 GB on a Pi). As mosquitto's
//   max_queued_messages and the v5 sessions' mqtt5.maxQueuedMessages: past `maxMessages` messages
//   or `maxBytes` payload bytes, further messages for an offline client are dropped and counted. A
//   connected client's queue (its in-flight messages) is not cut here: the outbound limits bound it;
// - PUBRELs keyed by their packet id (below, outgoingUpdate): QoS 2 messages were lost.
import type { AedesPersistence } from 'aedes-persistence';
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';

interface Queued {
  messages: number;
  bytes: number;
}

export interface OfflineQueueDeps {
  /** maxQueuedMessages and outbound.maxQueueBytes bound each offline client's queue. */
  options: Pick<BrokerOptions, 'maxQueuedMessages' | 'outbound'>;
  stats: BrokerStats;
  rateLog: RateLog;
  /** Is a client with this id connected (aedes' client table)? */
  isConnected(clientId: string): boolean;
}

type Sub = { clientId: string };
type Pkt = { topic: string; payload: Buffer | string };
type Client = { id: string };
/** The queue methods aedes calls on its persistence, promise style (aedes 1.x). */
interface QueueMethods {
  outgoingEnqueue(sub: Sub, packet: Pkt): Promise<void>;
  outgoingEnqueueCombi(subs: Sub[], packet: Pkt): Promise<void>;
  outgoingClearMessageId(client: Client, packet: unknown): Promise<Pkt | undefined>;
  outgoingUpdate(client: Client, packet: unknown): Promise<void>;
}

/** Not a broker id aedes makes (those are uuids): marks a PUBREL in the outgoing queue. */
const PUBREL_BROKER_ID = '\u0000pubrel';

const size = (p: Pkt): number => (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : (p.payload?.length ?? 0));

/** Wrap the persistence's queue methods; returns the per-client count (for tests and status). */
export function boundOfflineQueues(persistence: AedesPersistence, deps: OfflineQueueDeps): (clientId: string) => Queued | undefined {
  const p = persistence as unknown as QueueMethods;
  const { stats, rateLog } = deps;
  const maxMessages = deps.options.maxQueuedMessages;
  const maxBytes = deps.options.outbound.maxQueueBytes;
  const queued = new Map<string, Queued>();
  const add = (id: string, bytes: number): void => {
    const q = queued.get(id);
    if (q) {
      q.messages++;
      q.bytes += bytes;
    } else queued.set(id, { messages: 1, bytes });
  };
  const full = (id: string, bytes: number): boolean => {
    const q = queued.get(id);
    return q !== undefined && (q.messages >= maxMessages || q.bytes + bytes > maxBytes);
  };

  const enqueue = p.outgoingEnqueue.bind(persistence);
  p.outgoingEnqueue = (sub, packet) => {
    add(sub.clientId, size(packet));
    return enqueue(sub, packet);
  };
  const enqueueCombi = p.outgoingEnqueueCombi.bind(persistence);
  p.outgoingEnqueueCombi = (subs, packet) => {
    // aedes calls this for every QoS 1/2 publish, most with no persistent subscriber: no copy then
    if (subs.length === 0) return enqueueCombi(subs, packet);
    const bytes = size(packet);
    const kept = subs.filter((s) => {
      if (!deps.isConnected(s.clientId) && full(s.clientId, bytes)) {
        stats.offlineDropped++;
        rateLog(
          'offline-full',
          { client: s.clientId, topic: packet.topic, maxQueuedMessages: maxMessages, dropped: stats.offlineDropped },
          'offline session queue full: message dropped',
        );
        return false;
      }
      add(s.clientId, bytes);
      return true;
    });
    return enqueueCombi(kept, packet);
  };
  const clear = p.outgoingClearMessageId.bind(persistence);
  p.outgoingClearMessageId = async (client, packet) => {
    // a QoS 2 message is removed as its PUBREL (no payload): its bytes stay counted until the
    // client's queue empties (the entry goes), so the bound errs early, by the QoS 2 in flight
    const removed = await clear(client, packet);
    const q = queued.get(client.id);
    if (removed && q) {
      q.messages--;
      q.bytes -= size(removed);
      if (q.messages <= 0) queued.delete(client.id);
    }
    return removed;
  };
  // aedes-persistence's outgoingUpdate finds a queued packet by brokerId and brokerCounter, which a
  // PUBREL has neither of: with two QoS 2 messages in flight, the second PUBREL matched the first
  // (undefined === undefined) and rewrote its packet id before it was written. The client got the
  // second PUBREL twice and never the first: that message, PUBCOMPed to its publisher, was never
  // delivered. A PUBREL gets a key of its own (its packet id) before it is stored.
  const update = p.outgoingUpdate.bind(persistence);
  p.outgoingUpdate = (client, packet) => {
    const rel = packet as { cmd?: string; messageId?: number; brokerId?: string; brokerCounter?: number };
    if (rel.cmd === 'pubrel' && rel.brokerId === undefined && rel.messageId !== undefined) {
      rel.brokerId = PUBREL_BROKER_ID;
      rel.brokerCounter = -rel.messageId;
    }
    return update(client, packet);
  };
  return (clientId) => queued.get(clientId);
}
