// Where `gatehouse start` writes its log (pino JSON on stdout, journald under systemd), made safe
// for a log that cannot be written. pino's default stdout destination re-throws a write error
// other than EPIPE as an uncaught exception, and our handler for that logs at fatal, whose
// flushSync (sonic-boom) retries a failing write every 100 ms forever on the main thread: with
// stdout on a full filesystem (`gatehouse start >> gatehouse.log` on the data card) the whole
// gateway froze, broker and admin API included, and never exited for systemd to restart it.
// Here a failing log write is counted and the lines are dropped; the gateway keeps working and
// logging resumes when the destination takes writes again.
import pino from 'pino';
import type { Registry } from 'prom-client';
import { counter } from '../../core/metrics.js';

/** Lines held while the destination fails, beyond which new lines are dropped (and counted). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export interface LogDestination {
  stream: pino.DestinationStream;
  /** Count dropped lines and failed writes in `registry` (made after the logger). */
  registerMetrics(registry: Registry): void;
}

export function safeLogDestination(fd = 1): LogDestination {
  const dest = pino.destination({ fd, sync: true, maxLength: MAX_BUFFERED_BYTES });
  let failing = false;
  let failures = 0;
  let dropped = 0;
  dest.on('error', () => {
    failing = true;
    failures++;
  });
  dest.on('write', () => {
    failing = false;
  });
  dest.on('drop', () => {
    dropped++;
  });
  // While writes fail, a synchronous flush (pino's after a fatal line) must not wait for them:
  // it throws instead, which pino ignores.
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = () => {
    if (failing) throw new Error('log destination is failing: not flushed');
    flushSync();
  };
  return {
    stream: dest,
    registerMetrics(registry) {
      counter(
        registry,
        'gatehouse_log_write_failures_total',
        'Writes of the log (stdout) that failed (e.g. its filesystem is full); their lines wait or are dropped',
        [],
        {
          collect() {
            this.reset();
            this.inc(failures);
          },
        },
      );
      counter(registry, 'gatehouse_log_lines_dropped_total', 'Log lines dropped because the log could not be written and its buffer (1 MiB) was full', [], {
        collect() {
          this.reset();
          this.inc(dropped);
        },
      });
    },
  };
}
