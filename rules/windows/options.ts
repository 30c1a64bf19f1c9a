// The options of the stateful rules (checkpoint interval, window bounds): the zod schema with its
// defaults and descriptions. Separate from the host (host.ts) because it is configuration, not
// run time: the gateway's config schema embeds it as `ruleState` and `gatehouse config-docs`
// prints its descriptions into docs/configuration.md.
import { z } from '../../core/zod.js';

export const statefulOptionsSchema = z.strictObject({
  checkpointIntervalMs: z.number().int().min(0).default(10_000).describe('How often window and detector state is checkpointed to the store (0 = only on stop)'),
  maxGroups: z.number().int().min(1).default(10_000).describe('Groups kept per windowed rule (per window for time windows); the oldest is evicted and counted'),
  maxRowsPerWindow: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe(
      'Rows kept per group by sliding windows, collect() and percentile() (beyond: dropped and counted); also the events per rule waiting for the watermark of a LATENESS',
    ),
});
export type StatefulOptions = z.infer<typeof statefulOptionsSchema>;
