// A bound on MQTT 3.1.1 persistent sessions (clean: false). aedes keeps such a session (its
// subscriptions, its queued messages, its unreleased QoS 2 publishes) after its client leaves,
// until a client with the same id connects clean: for ever, for a client id never seen again.
// One credential connecting under many ids (a script, a device that makes up an id at each boot)
// held ~1.3 KB per id plus up to maxQueuedMessages queued messages each, without bound. As the
// v5 sessions (mqtt5.maxSessions): at most `maxPersistentSessions` are held; a new one beyond
// that removes the session disconnected longest ago (its subscriptions, queue and QoS 2 store),
// counted and logged at a bounded rate. Connected sessions are never removed (maxConnections
// bounds them).
// A clean session's leftovers (unreleased QoS 2 publishes of a client that left mid-handshake)
// go when it disconnects: a clean session ends with its connection.
//
// Invariants: the table holds each persistent client id once, in the order of its last change
// (connect or disconnect), so the first disconnected entry is the one disconnected longest ago;
// a disconnect counts only when no newer connection with the same id took the client table.
import type { AedesPersistence } from 'aedes-persistence';
import type { RateLog } from '../../core/rate-log.js';
import type { BrokerStats } from './metrics.js';
import type { SessionQueues } from './session-queues.js';

export interface PersistentSessionsDeps {
  maxSessions: number;
  persistence: AedesPersistence;
  queues: SessionQueues;
  stats: BrokerStats;
  rateLog: RateLog;
  /** Is a client with this id connected (aedes' client table)? */
  isConnected(clientId: string): boolean;
}

type Client = { id: string; clean?: boolean };

export class PersistentSessions {
  /** client id -> connected (true) or disconnected (false); Map order = order of the last change. */
  private readonly table = new Map<string, boolean>();

  constructor(private readonly d: PersistentSessionsDeps) {}

  get size(): number {
    return this.table.size;
  }

  /** aedes 'client': a client's CONNECT was accepted. */
  connected(client: Client): void {
    // A clean connect ends any session of that id (aedes cleans its subscriptions and queue).
    this.table.delete(client.id);
    if (client.clean === false) {
      this.table.set(client.id, true);
      if (this.table.size > this.d.maxSessions) this.evictOldestDisconnected();
    }
    this.d.stats.persistentSessions = this.table.size;
  }

  /** aedes 'clientDisconnect': a connected client left. */
  disconnected(client: Client): void {
    // a takeover: a newer connection with this id holds the session now
    if (this.d.isConnected(client.id)) return;
    if (client.clean !== false) {
      this.d.queues.drop(client.id);
      return;
    }
    if (!this.table.has(client.id)) return;
    this.table.delete(client.id);
    this.table.set(client.id, false);
  }

  private evictOldestDisconnected(): void {
    for (const [id, connected] of this.table) {
      if (connected || this.d.isConnected(id)) continue;
      this.table.delete(id);
      const dropped = this.d.queues.drop(id);
      this.d.stats.sessionsEvicted++;
      this.d.stats.offlineDropped += dropped;
      // promise style, as aedes 1.x calls it (no callback)
      const clean = this.d.persistence.cleanSubscriptions.bind(this.d.persistence) as unknown as (c: { id: string }) => Promise<void>;
      void clean({ id }).catch(() => undefined);
      this.d.rateLog(
        'session-evicted',
        { client: id, droppedMessages: dropped, maxPersistentSessions: this.d.maxSessions, evicted: this.d.stats.sessionsEvicted },
        'MQTT 3.1.1 persistent session table full: the session disconnected longest ago was removed',
      );
      return;
    }
  }
}
