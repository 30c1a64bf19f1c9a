// The chaos bench's upstreams by kind (`--upstream`): each a ChaosSink (chaos-upstream.ts) with
// the four fault modes chaos.ts switches between, the exporter destination that reaches it, and
// the ids it received. `http` (the default) is the Firehose-HTTP endpoint of chaos-upstream.ts;
// `nats` a nats-server with JetStream (chaos-upstream-nats.ts); `mqtt` the MQTT bridge to
// mosquitto (chaos-upstream-mqtt.ts); `kinesis` kinesalite behind a fault proxy
// (chaos-upstream-kinesis.ts); `webhook` the user's own endpoint taking NDJSON export lines, the
// Firehose endpoint's server with more flaky answers and Idempotency-Key counts (chaos-upstream-webhook.ts);
// `postgres` a private Debian postgres behind a TCP fault proxy, read back from the table (chaos-upstream-postgres.ts).
import { ChaosUpstream, type ChaosKey, type ChaosSink } from './chaos-upstream.js';
import { ChaosNats } from './chaos-upstream-nats.js';
import { MqttUpstream } from './chaos-upstream-mqtt.js';
import { KinesisChaosUpstream } from './chaos-upstream-kinesis.js';
import { WebhookChaosUpstream } from './chaos-upstream-webhook.js';
import { ChaosPostgres } from './chaos-upstream-postgres.js';

export const UPSTREAM_KINDS = ['http', 'nats', 'mqtt', 'kinesis', 'webhook', 'postgres'] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

export interface UpstreamParts {
  /** Receptions per id to keep, per leg. */
  capacities: Partial<Record<ChaosKey, number>>;
  /** The run's seeded random numbers (faults the upstream injects itself). */
  rnd: () => number;
  /** A folder of the run's (removed at the end) for the upstream's own files. */
  dir: string;
}

/** The upstream of kind `kind`, up and healthy; or why it cannot be made (unknown kind, a peer not installed). */
export async function createUpstream(kind: string, parts: UpstreamParts): Promise<ChaosSink | string> {
  switch (kind) {
    case 'http': {
      const u = new ChaosUpstream(parts.capacities, parts.rnd);
      await u.up();
      return u;
    }
    case 'nats':
      return ChaosNats.create(parts);
    case 'mqtt': {
      // mosquitto with a checker subscribed (chaos-upstream-mqtt.ts).
      const u = await MqttUpstream.create(parts.capacities, parts.rnd, parts.dir);
      if (typeof u !== 'string') await u.up();
      return u;
    }
    case 'kinesis': {
      const u = new KinesisChaosUpstream(parts.capacities, parts.rnd, parts.dir);
      await u.up();
      return u;
    }
    case 'webhook': {
      const u = new WebhookChaosUpstream(parts.capacities, parts.rnd);
      await u.up();
      return u;
    }
    case 'postgres':
      // Not a rule-action kind: --actions is refused for it (no action()).
      return ChaosPostgres.create(parts);
    default:
      return `unknown --upstream ${kind} (one of ${UPSTREAM_KINDS.join(', ')})`;
  }
}
