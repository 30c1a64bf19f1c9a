// `shadows:` of the configuration: the local Device Shadow service (docs/shadows.md).
import { z } from '../../core/zod.js';

export const shadowOptionsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Answer AWS IoT's Device Shadow topics ($aws/things/<thing>/shadow/...) on the embedded broker, with documents kept in the store. false: those topics pass like any other and nobody answers.",
      ),
    maxShadows: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe(
        'Shadows (classic and named, every thing) the gateway keeps; an update that would create one more is rejected (code 429) and counted in gatehouse_shadow_rejections_total. Each is held in memory: at most 4 x maxStateBytes with its metadata.',
      ),
    maxStateBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(8192)
      .describe(
        "Largest state of a shadow (desired and reported, as JSON without whitespace; metadata not counted), AWS's 8 KB: an update making it larger is rejected (code 413).",
      ),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe('Shadow requests being handled at once (waiting for their disk write); one more is rejected (code 429, as AWS past its in-flight limit).'),
  })
  .describe("The local Device Shadow service (AWS IoT's shadow topics on the embedded broker, docs/shadows.md).");

export type ShadowOptions = z.output<typeof shadowOptionsSchema>;
