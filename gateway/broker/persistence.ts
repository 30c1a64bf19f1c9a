// The storage behind aedes, as the broker sets it up before aedes exists: aedes' own in-memory
// store (aedes-persistence), every retained message mirrored to the retained file when one is
// given (retained-file.ts) and bounded by maxRetainedMessages / maxRetainedBytes
// (retained-bound.ts), the 3.1.1 session queues bounded and freed when empty (session-queues.ts)
// and the persistent sessions bounded (persistent-sessions.ts). Apart from index.ts, which wires
// aedes, the listeners and the v5 layer to it.
import memoryPersistenceCjs, { type AedesPersistence } from 'aedes-persistence';
import type { Logger } from 'pino';
import type { Clocks } from '../../core/clock.js';
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { PersistentSessions } from './persistent-sessions.js';
import { RetainedBound, retainedBytes } from './retained-bound.js';
import { RetainedFile, type RetainedPacket } from './retained-file.js';
import { installSessionQueues, type SessionQueuesDeps } from './session-queues.js';

// aedes' memory persistence is CommonJS (module.exports = factory) while its typings declare an ES
// default export, so under NodeNext the default import, the factory at run time, is typed as the module.
const memoryPersistence = memoryPersistenceCjs as unknown as () => AedesPersistence;

/** Its Packet (module.exports.Packet): the per-subscriber copy of a queued message. */
const PersistencePacket = (memoryPersistenceCjs as unknown as { Packet: SessionQueuesDeps['Packet'] }).Packet;

export interface BrokerPersistenceDeps {
  options: BrokerOptions;
  stats: BrokerStats;
  log: Logger;
  clocks: Clocks;
  rateLog: RateLog;
  /** File keeping retained messages across restarts (BrokerDeps.retainedFile); none: memory only. */
  retainedFile: string | undefined;
  /** Is a client with this id connected (aedes' client table)? */
  isConnected(id: string): boolean;
  /** Topics of the gateway's own retained state: outside the retained bounds (BrokerDeps.gatewayStateTopics). */
  gatewayStateTopics?: readonly string[] | undefined;
}

export interface BrokerPersistence {
  /** What aedes is given as its persistence. */
  persistence: AedesPersistence;
  /** The retained file, when one is given (closed by the broker's stop). */
  retained: RetainedFile | undefined;
  persistentSessions: PersistentSessions;
  /** The retained messages of the last run into aedes' store, without noting them again (they are in the file). */
  loadRetained(): Promise<void>;
  /**
   * Was the retained message of `topic` with this payload (the store's own Buffer) replaced or
   * cleared since a SUBSCRIBE's delivery read it? It is not sent then (see below).
   */
  retainedSuperseded(topic: string, payload: unknown): boolean;
}

export function createBrokerPersistence(d: BrokerPersistenceDeps): BrokerPersistence {
  const { options, stats, log, clocks, rateLog, isConnected } = d;
  const { monotonic } = clocks;
  // aedes' own in-memory store, with every retained store mirrored to a file when one is given.
  const persistence = memoryPersistence();
  const retained = d.retainedFile ? new RetainedFile(d.retainedFile, log, clocks, undefined, stats) : undefined;
  // The retained messages a SUBSCRIBE matches are sent paced (outbound.ts, retained-subscribe.ts,
  // v5/subscribe.ts), read from the store as they go through a stream that reads a few ahead: one
  // read, then replaced by a retained publish that went to the subscriber live, arrived after it
  // and took the topic back to the older value. While such a delivery is in progress the topics stored are kept here with
  // their payload (the store's own Buffer: no copy), and a message read before is left out. At
  // most maxRetainedMessages topics (past it, not kept: the guard is best effort); emptied when no
  // delivery is in progress. Each delivery's stream closes at its end: its last message, its
  // connection's close, an UNSUBSCRIBE or a new SUBSCRIBE of its filter (its loop returns).
  const changed = new Map<string, unknown>();
  const noteChanged = (topic: string, payload: unknown): void => {
    if (stats.retainedDeliveries > 0 && (changed.has(topic) || changed.size < options.maxRetainedMessages)) changed.set(topic, payload);
  };
  // the messages loaded from the file go to aedes without being noted again (they are in the file)
  const storeRetained = persistence.storeRetained.bind(persistence);
  const retainedBound = new RetainedBound({
    maxMessages: options.maxRetainedMessages,
    maxBytes: options.maxRetainedBytes,
    exempt: new Set(d.gatewayStateTopics ?? []),
    stats,
    rateLog,
    monotonic,
    drop: (topic) => {
      // (a delivery in progress that read it before does not send it: below)
      noteChanged(topic, undefined);
      const clear = { cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false } as const;
      retained?.note(clear);
      // (aedes' memory store does not fail; a failure would leave the message, counted no longer)
      Promise.resolve((storeRetained as unknown as (packet: RetainedPacket) => Promise<void>)(clear as unknown as RetainedPacket)).catch(() => undefined);
    },
  });
  const storeLoaded = (packet: RetainedPacket): Promise<void> => {
    const loaded = packet as unknown as { topic: string; payload?: Buffer | string; properties?: unknown; messageExpiry?: number };
    retainedBound.loaded(loaded.topic, retainedBytes(loaded.topic, loaded.payload, loaded.properties), loaded.messageExpiry);
    return (storeRetained as unknown as (packet: RetainedPacket) => Promise<void>)(packet);
  };
  const retainedStream = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStreamCombi = (patterns) => {
    const stream = retainedStream(patterns);
    stats.retainedDeliveries++;
    stream.once('close', () => {
      if (--stats.retainedDeliveries === 0) changed.clear();
    });
    return stream;
  };
  // aedes 1.x calls it promise style (no callback): the result is passed through either way.
  persistence.storeRetained = (packet, cb) => {
    const p = packet as unknown as { topic: string; payload?: Buffer | string; properties?: unknown; messageExpiry?: number };
    if (!retainedBound.admit(p.topic, retainedBytes(p.topic, p.payload, p.properties), p.messageExpiry)) {
      if (cb) return cb(null);
      return Promise.resolve() as unknown as ReturnType<typeof storeRetained>;
    }
    noteChanged(p.topic, p.payload);
    retained?.note(packet as Parameters<RetainedFile['note']>[0]);
    return storeRetained(packet, cb);
  };
  // 3.1.1 session state: queues bounded and freed when empty (session-queues.ts), sessions bounded (persistent-sessions.ts)
  const queues = installSessionQueues(persistence, { options, stats, rateLog, isConnected, Packet: PersistencePacket });
  const persistentSessions = new PersistentSessions({ maxSessions: options.maxPersistentSessions, persistence, queues, stats, rateLog, isConnected });
  return {
    persistence,
    retained,
    persistentSessions,
    async loadRetained() {
      // (Promise style, as aedes 1.x calls it: the callback style waits for a 'ready' event that an
      // awaited setup() never emits.)
      for (const packet of (await retained?.load()) ?? []) await storeLoaded(packet);
    },
    retainedSuperseded(topic, payload) {
      return changed.has(topic) && changed.get(topic) !== payload;
    },
  };
}
