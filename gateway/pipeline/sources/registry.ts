// Source kinds configured under `sources:` in the config file. Adding a kind = one folder (or
// file) under gateway/pipeline/sources/ plus one entry here: its options schema (light: zod only,
// loaded with the config) and a lazy factory (its heavy libraries, e.g. node-opcua, are imported
// only when a source of that kind is configured, so the idle gateway does not pay for them).
//
// Config shape: `sources: [{ type: 'file' | 'modbus' | 'opcua' | ..., name: 'meter-1', ...options }]`.
// `name` is unique across all sources; it names the source in /api/sources, metrics and logs, and
// namespaces the source's durable meta keys (Intake.commitMeta).
import { z } from 'zod';
import { sourceBaseSchema, type SourceKind } from './base.js';
import { fileSourceKind } from './file/index.js';

export { SOURCE_NAME, sourceBaseSchema, type SourceDeps, type SourceKind } from './base.js';

/** Every known kind; the config's `sources` entries are validated against their union. */
export const SOURCE_KINDS: readonly SourceKind[] = [fileSourceKind as unknown as SourceKind];

export function sourcesSchema(): z.ZodType {
  if (SOURCE_KINDS.length === 0) {
    // No kind yet: refuse every entry at its `type` key path (sources.<i>.type).
    return z.array(sourceBaseSchema.extend({ type: z.string().refine(() => false, { message: 'unknown source type: no source types are available in this build' }).describe('Source type.') }));
  }
  const schemas = SOURCE_KINDS.map((k) => k.schema) as unknown as [z.ZodObject, ...z.ZodObject[]];
  const known = SOURCE_KINDS.map((k) => k.type).join(', ');
  // A discriminated union even for one kind, so an unknown type gets one clear message at sources.<i>.type.
  return z.array(z.discriminatedUnion('type', schemas, { error: (iss) => (iss.code === 'invalid_union' ? `unknown source type: this build has ${known}` : undefined) }));
}

export function sourceKind(type: string): SourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.type === type);
}
