// The complete configuration schema, every entry kind included: for `gatehouse config-docs`
// (docs/configuration.md), check tools and tests. The gateway validates with the schema loadConfig
// builds for its file (index.ts), which loads the entry kinds only when the file lists entries.
import type { z } from '../../core/zod.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';
import { sourcesSchema } from '../pipeline/sources/registry.js';
import { withEntries } from './schema.js';

export const configSchema = withEntries({ serialLink: SerialLinkOptionsSchema, sources: sourcesSchema() as z.ZodType<unknown[]> });
