// The admin API while the start waits for disk space to open the store (store/open-wait.ts): it
// listens from the first failed open so /healthz answers 503 with the reason (monitors and
// `systemctl status` users see why the gateway is not up) and /metrics shows
// gatehouse_store_writable 0, /api/overview (the status page, served too) and `gatehouse status`
// say what it waits for, since when, free vs needed bytes and what to do; every other route
// answers 503 GH_STORE_DISK_FULL. Once the gateway
// has started, the same server (same port, same metrics) serves the running gateway.
import type { AdminSource } from '../admin/server.js';
import { ERRORS } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import type { OpenWait } from '../store/index.js';
import { statusPageFiles } from '../admin/status-page.js';

/** An AdminSource whose target can be replaced (the waiting one, then the running gateway's). */
export function switchableSource(first: AdminSource): { source: AdminSource; use(next: AdminSource): void } {
  let current = first;
  // A Proxy, not a wrapper object: the server tests the optional methods (applyRules, sources,
  // overview, ...) for presence, and that must follow the current target.
  const source = new Proxy({} as AdminSource, {
    get(_target, key) {
      const value = (current as unknown as Record<PropertyKey, unknown>)[key];
      return typeof value === 'function' ? value.bind(current) : value;
    },
    has: (_target, key) => key in current,
  });
  return { source, use: (next) => (current = next) };
}

export interface WaitingSourceOptions {
  /** The current wait (undefined once the store is open). */
  wait: () => OpenWait | undefined;
  gatewayId: string;
  version: string;
  /** Monotonic ms of the first open attempt. */
  startedMono: number;
  /** The store's directory (the data dir's store/): where space is to be freed. */
  storePath: string;
}

/** What a waiting gateway is waiting for: /healthz, /api/overview (the status page) and `gatehouse status` show it. */
export function waitingState(w: OpenWait, storePath: string): Record<string, unknown> {
  return {
    state: 'waiting-for-disk',
    waitingFor: 'free disk space to open the store',
    since: new Date(w.since).toISOString(),
    reason: w.reason,
    storePath,
    freeBytes: w.freeBytes ?? null,
    /** About what opening needs: LevelDB replays its log into a new table. */
    neededBytes: w.logBytes,
    reserveBytes: w.reserveBytes,
    attempts: w.attempts,
    whatToDo: w.hint,
    notRunning:
      'the MQTT broker, serial links, sources, rules and exporters start once the store is open: nothing could be stored before, so no device is accepted meanwhile (devices keep their data and retry)',
  };
}

/** What the admin API answers while the store waits for space. */
export function waitingSource(opts: WaitingSourceOptions): AdminSource {
  const { wait, gatewayId, version, startedMono, storePath } = opts;
  const refuse = (): never => {
    const w = wait();
    throw ERRORS.GH_STORE_DISK_FULL(
      { what: 'be used yet', reason: 'the gateway is not started, it waits for disk space to open its store (see /healthz)' },
      {
        where: 'store',
        ...(w ? { hint: w.hint } : {}),
      },
    );
  };
  const health = () => {
    const w = wait();
    return {
      ok: false,
      status: 'starting',
      reason: w ? `waiting for disk space to open the store: ${w.reason}` : 'the gateway is starting (its store is open)',
      ...(w
        ? {
            hint: w.hint,
            store: { writable: false, condition: 'cannot-open', freeBytes: w.freeBytes ?? null, reserveBytes: w.reserveBytes, logBytes: w.logBytes },
            waitingSince: new Date(w.since).toISOString(),
          }
        : {}),
      uptimeSeconds: Math.round((monotonicNow() - startedMono) / 1000),
      gatewayId,
    };
  };
  return {
    health,
    streams: refuse,
    streamNames: refuse,
    readRecords: async () => refuse(),
    rules: refuse,
    clients: refuse,
    links: refuse,
    jobs: refuse,
    sources: refuse,
    applyRules: async () => refuse(),
    rollbackRules: async () => refuse(),
    events: refuse,
    deadLetters: { list: async () => refuse(), redrive: async () => refuse(), purge: async () => refuse(), names: () => [] },
    streamDrop: { usedBy: () => undefined, drop: async () => refuse() },
    // The status page: what the start waits for, in place of the figures of a running gateway.
    overview() {
      const w = wait();
      return {
        gatewayId,
        version,
        health: health(),
        starting: w ? waitingState(w, storePath) : { state: 'starting', waitingFor: 'the start to complete (the store is open)' },
        rates: [],
        current: { in: 0, out: 0 },
        clients: [],
        links: [],
        sources: [],
        streams: [],
        jobs: [],
        events: [],
      };
    },
    staticFiles: () => statusPageFiles(),
  };
}
