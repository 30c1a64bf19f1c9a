// The NATS destination's JetStream stream (nats.ts holds the connection and the sends): looked up
// before the first send of each connection, and created with the destination's subjects and
// duplicate window when it is missing and createStream allows. A missing stream without
// createStream is the gateway's setup (GH_DESTINATION_CONFIG with details.setup: retried at the
// normal pace, not as an outage, never dead-lettered); any other failure is thrown as it came.
import type { Logger } from 'pino';
import type { NatsConnection } from 'nats';
import { destinationConfigError } from './common.js';
import type { NatsErrorLike } from './nats-errors.js';
import { streamSubjects, type NatsOptions } from './nats-options.js';

/** Check (or make) stream `o.stream` on `nc`; `nanos`: the nats client's ms-to-nanoseconds (the client loads lazily). */
export async function ensureJetStream(nc: NatsConnection, o: NatsOptions, nanos: (ms: number) => number, log: Logger): Promise<void> {
  const jsm = await nc.jetstreamManager({ timeout: o.ackTimeoutMs });
  try {
    await jsm.streams.info(o.stream);
  } catch (err) {
    const e = err as NatsErrorLike;
    const missing = e.api_error?.err_code === 10059 || e.code === '404';
    if (!missing) throw err;
    if (!o.createStream) {
      throw destinationConfigError('nats destination', [{ path: 'nats.stream', message: `JetStream stream '${o.stream}' does not exist` }], {
        where: 'nats.stream',
        hint: `create it (nats stream add ${o.stream} --subjects '${streamSubjects(o.subject)[0]}') or set createStream: true`,
        // The gateway's setup (as a missing Kinesis stream): retried at the normal pace, not as an outage.
        details: { setup: true },
      });
    }
    await jsm.streams.add({ name: o.stream, subjects: streamSubjects(o.subject), duplicate_window: nanos(o.duplicateWindowMs) });
    log.info({ stream: o.stream, subjects: streamSubjects(o.subject) }, 'created JetStream stream');
  }
}
