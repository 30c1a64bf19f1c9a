// The admin API while the start waits for disk space to open the store (store/open-wait.ts): it
// listens from the first failed open so /healthz answers 503 with the reason (monitors and
// `systemctl status` users see why the gateway is not up) and /metrics shows
// gatehouse_store_writable 0; every other route answers 503 GH_STORE_DISK_FULL. Once the gateway
// has started, the same server (same port, same metrics) serves the running gateway.
import type { AdminSource } from '../admin/server.js';
import { GatehouseError } from '../../core/errors.js';
import { monotonicNow } from '../../core/clock.js';
import type { OpenWait } from '../store/index.js';

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

/** What the admin API answers while the store waits for space (wait(): the current wait). */
export function waitingSource(wait: () => OpenWait | undefined, gatewayId: string, startedMono: number): AdminSource {
  const refuse = (): never => {
    const w = wait();
    throw new GatehouseError('GH_STORE_DISK_FULL', 'the gateway is not started yet: it waits for disk space to open its store (see /healthz)', {
      where: 'store',
      ...(w ? { hint: w.hint } : {}),
    });
  };
  return {
    health() {
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
    },
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
    overview: refuse,
  };
}
