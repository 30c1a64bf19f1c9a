// What a reconnect leaves behind in this process, read at points of a run of N reconnects: open
// file descriptors (/proc/self/fd), the handles keeping the event loop alive (sockets, timers),
// listeners on long-lived emitters, and the heap used after full GCs. The reconnect tests assert on
// counts (fds, handles, listeners); the heap only with a generous bound.
import { readdirSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { heapAfterGc } from './fuzz.js';
import type { ProxySettings } from '../../gateway/upstream/proxy.js';

export interface Reading {
  at: number;
  fds: number;
  /** TCP sockets (connected or connecting) this process holds. */
  sockets: number;
  timers: number;
  /** Listeners on the emitters given to the meter (and on process), summed. */
  listeners: number;
  heapKb: number;
}

/** Every listener of every event of `e`. */
function listenerCount(e: EventEmitter): number {
  let n = 0;
  for (const name of e.eventNames()) n += e.listenerCount(name);
  return n;
}

export interface Meter {
  read(at: number): Reading;
  readings: Reading[];
  /** MaxListenersExceededWarning seen since the meter was made. */
  maxListenerWarnings(): number;
  /** Stop watching process warnings. */
  close(): void;
  /** The readings as lines of a table, one each. */
  table(label: string): string[];
}

/** A meter of this process; `emitters()` the long-lived emitters whose listeners count (a client, a destination's agent). */
export function reconnectMeter(emitters: () => EventEmitter[] = () => []): Meter {
  let warnings = 0;
  const onWarning = (w: Error): void => {
    if (w.name === 'MaxListenersExceededWarning') warnings++;
  };
  process.on('warning', onWarning);
  const readings: Reading[] = [];
  return {
    readings,
    read(at) {
      const heapKb = Math.round(heapAfterGc() / 1024);
      const res = process.getActiveResourcesInfo();
      const r: Reading = {
        at,
        fds: readdirSync('/proc/self/fd').length,
        sockets: res.filter((k) => k === 'TCPSocketWrap' || k === 'TCPConnectWrap' || k === 'TLSWrap').length,
        timers: res.filter((k) => k === 'Timeout').length,
        listeners: [process as EventEmitter, ...emitters()].reduce((n, e) => n + listenerCount(e), 0),
        heapKb,
      };
      readings.push(r);
      return r;
    },
    maxListenerWarnings: () => warnings,
    close: () => {
      process.off('warning', onWarning);
    },
    table(label) {
      return readings.map((r) => `${label} at ${r.at}: fds ${r.fds} sockets ${r.sockets} timers ${r.timers} listeners ${r.listeners} heap ${r.heapKb} KB`);
    },
  };
}

/** Deps whose log keeps nothing but counts of lines by message (a kept log would grow the heap measured). */
export function countingDeps(network: ProxySettings) {
  const counts = new Map<string, number>();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        const m = /"msg":"([^"]{0,80})/.exec(line);
        if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
      }
      done();
    },
  });
  // A monotonic clock the test moves a minute on (passMinute): lines bounded to one a minute per kind
  // (core/rate-log.ts: 'upstream MQTT connected' after the first) are said again at each reconnect.
  let skew = 0;
  const monotonic = (): number => performance.now() + skew;
  return {
    deps: { logger: pino({ level: 'debug' }, sink), registry: new Registry(), network, monotonic },
    count: (msg: string) => counts.get(msg) ?? 0,
    counts,
    passMinute: (): void => {
      skew += 61_000;
    },
  };
}
