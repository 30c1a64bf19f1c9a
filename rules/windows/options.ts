// The options of the stateful rules (checkpoint interval, window bounds): the zod schema with its
// defaults and descriptions. Separate from the host (host.ts) because it is configuration, not
// run time: the gateway's config schema embeds it as `ruleState` and `gatehouse config-docs`
// prints its descriptions into docs/configuration.md.
import { z } from '../../core/zod.js';

export const statefulOptionsSchema = z.strictObject({
  checkpointIntervalMs: z.number().int().min(0).default(10_000).describe('How often window and detector state is checkpointed to the store (0 = only on stop)'),
  checkpointMaxBytesPerSec: z
    .number()
    .int()
    .min(0)
    .default(65_536)
    .describe(
      'Disk write budget of the periodic checkpoints: after a round that wrote B bytes the next waits at least B / this seconds (0 = no budget). Detector state is large (~1.5 MB per partition for the default detector): 20 partitions are checkpointed every ~8 min instead of every 10 s; the input log replays what came after, so nothing acknowledged is lost',
    ),
  maxGroups: z.number().int().min(1).default(10_000).describe('Groups kept per windowed rule (per window for time windows); the oldest is evicted and counted'),
  maxGroupStates: z
    .number()
    .int()
    .min(1)
    .default(100_000)
    .describe(
      "Group states kept per tumbling or hopping window rule across its open windows, a hopping window's event being in size/hop of them (~400 bytes each: ~40 MB at the default): beyond, the oldest group of the window it joins (or of the oldest window) is evicted and counted. The default holds 10,000 devices in 10 overlapping windows; raise it for more. maxGroups bounds one window: with size/hop 1,000, 10,000 topics made 10 million states (2.5 GB)",
    ),
  maxGroupBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024)
    .describe(
      'Bytes the groups of one windowed rule may hold (the last message each group keeps for SELECT * and bare fields, a message shared by a hopping window\'s windows counted once, the rows of sliding and count windows, the values collect/percentile/first/last keep, events waiting for the watermark): beyond, the oldest groups are evicted (counted in gatehouse_window_evicted_groups_total{reason="bytes"}, logged at most once a minute). 64 MiB (default) is a few rules on a Raspberry Pi with 1 GB; 10,000 devices of 1 KB payloads need ~13 MB. maxGroups alone let 10,000 groups of 256 KiB payloads hold 2.5 GiB',
    ),
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
