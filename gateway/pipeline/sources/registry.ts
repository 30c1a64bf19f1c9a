// Source kinds configured under `sources:` in the config file. Adding a kind = one folder (or
// file) under gateway/pipeline/sources/ plus one entry here: its options schema (light: zod only,
// loaded with the config) and a lazy factory (its heavy libraries, e.g. node-opcua, are imported
// only when a source of that kind is configured, so the idle gateway does not pay for them).
//
// Config shape: `sources: [{ type: 'file' | 'modbus' | 'opcua' | ..., name: 'meter-1', ...options }]`.
// `name` is unique across all sources; it names the source in /api/sources, metrics and logs, and
// namespaces the source's durable meta keys (Intake.commitMeta).
import { z } from 'zod';
import type { RuntimeDeps } from '../../../core/deps.js';
import type { Source } from '../contract.js';

export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface SourceDeps extends RuntimeDeps {
  /** The gateway's data folder (certificates, trust lists and other per-source files live below it). */
  dataDir: string;
  /** Publish on the local broker (QoS 0, not durable), for sources whose readings MQTT subscribers also see. */
  publish?: (topic: string, payload: Buffer) => void;
  /** Subscribe on the local broker (command topics for downlink writes); returns an unsubscribe. */
  subscribe?: (filter: string, handler: (topic: string, payload: Buffer) => void) => () => void;
}

export interface SourceKind<S extends z.ZodType = z.ZodType> {
  type: string;
  /** zod schema of one `sources:` entry of this kind, including `type` (a literal) and `name`. */
  schema: S;
  /** Create the source (not started); import heavy libraries here, lazily. */
  create(options: z.output<S>, deps: SourceDeps): Promise<Source>;
}

/** Every known kind; the config's `sources` entries are validated against their union. */
export const SOURCE_KINDS: readonly SourceKind[] = [];

/** Base fields every source entry has. Kinds extend this with `.extend({ type: z.literal('x'), ... })`. */
export const sourceBaseSchema = z.object({
  name: z.string().regex(SOURCE_NAME, 'source names: letters, digits, _ . - (max 64)').describe('Unique name of this source (status, metrics, logs).'),
  enabled: z.boolean().default(true).describe('Set false to keep the entry but not start it.'),
});

export function sourcesSchema(): z.ZodType {
  if (SOURCE_KINDS.length === 0) {
    // No kind yet: refuse every entry at its `type` key path (sources.<i>.type).
    return z.array(sourceBaseSchema.extend({ type: z.string().refine(() => false, { message: 'unknown source type: no source types are available in this build' }).describe('Source type.') }));
  }
  const schemas = SOURCE_KINDS.map((k) => k.schema) as unknown as [z.ZodObject, ...z.ZodObject[]];
  return z.array(schemas.length === 1 ? schemas[0] : z.discriminatedUnion('type', schemas));
}

export function sourceKind(type: string): SourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.type === type);
}
