// A log line at a bounded rate: the first event of a kind is logged at once, then at most one
// line per interval carrying how many were suppressed. A flood (bad clients, a full disk refusing
// every append) costs a counter increment, never a flood of log lines (on an SD card, the log is a
// disk write). Used by the broker, the rules engine, the sources, the exporters and the admin API.
import type { Logger } from 'pino';
import { monotonicNow } from './clock.js';

export type RateLog = (key: string, fields: Record<string, unknown>, msg: string) => void;

/** `clock`: a monotonic clock (RuntimeDeps.monotonic): a wall clock stepped back would mute the key for the size of the step. */
export function rateLimitedLog(log: Logger, level: 'debug' | 'info' | 'warn' | 'error', intervalMs: number, clock: () => number = monotonicNow): RateLog {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, fields, msg) => {
    const t = clock();
    const e = last.get(key);
    if (e && t - e.at < intervalMs) {
      e.suppressed++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    // bounded: keys are a few fixed kinds; still, forget old ones if a caller keys by address
    if (last.size > 1000) last.clear();
    last.set(key, { at: t, suppressed: 0 });
    log[level](suppressed ? { ...fields, suppressed } : fields, msg);
  };
}
