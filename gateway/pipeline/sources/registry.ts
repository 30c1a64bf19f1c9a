// Source kinds configured under `sources:` in the config file. Adding a kind = one folder (or
// file) under gateway/pipeline/sources/ plus one entry here: its options schema (light: zod only,
// loaded with the config) and a lazy factory (its heavy libraries, e.g. node-opcua, are imported
// only when a source of that kind is configured, so the idle gateway does not pay for them).
//
// Config shape: `sources: [{ type: 'file' | 'modbus' | 'opcua' | 'mqtt' | 'http' | 'syslog' | 'snmp' | 'sparkplug' | ..., name: 'meter-1', ...options }]`.
// `name` is unique across all sources; it names the source in /api/sources, metrics and logs, and
// namespaces the source's durable meta keys (Intake.commitMeta).
import { z } from '../../../core/zod.js';
import { fileSourceKind } from './file/index.js';
import { httpSourceKind } from './http/index.js';
import { sourceBaseSchema, type SourceKind } from './kind.js';
import { modbusKind } from './modbus/index.js';
import { mqttSourceKind } from './mqtt/index.js';
import { opcuaKind } from './opcua/index.js';
import { snmpSourceKind } from './snmp/index.js';
import { sparkplugSourceKind } from './sparkplug/index.js';
import { syslogSourceKind } from './syslog/index.js';

export { SOURCE_NAME, sourceBaseSchema, type SourceDeps, type SourceKind } from './kind.js';

/** Every known kind; the config's `sources` entries are validated against their union. */
export const SOURCE_KINDS: readonly SourceKind[] = [
  fileSourceKind as unknown as SourceKind,
  modbusKind as unknown as SourceKind,
  opcuaKind as unknown as SourceKind,
  mqttSourceKind as unknown as SourceKind,
  httpSourceKind as unknown as SourceKind,
  syslogSourceKind as unknown as SourceKind,
  snmpSourceKind as unknown as SourceKind,
  sparkplugSourceKind as unknown as SourceKind,
];

export function sourcesSchema(): z.ZodType {
  if (SOURCE_KINDS.length === 0) {
    // No kind yet: refuse every entry at its `type` key path (sources.<i>.type).
    return z.array(
      sourceBaseSchema.extend({
        type: z
          .string()
          .refine(() => false, { message: 'unknown source type: no source types are available in this build' })
          .describe('Source type.'),
      }),
    );
  }
  const schemas = SOURCE_KINDS.map((k) => k.schema) as unknown as [z.ZodObject, ...z.ZodObject[]];
  const types = SOURCE_KINDS.map((k) => k.type).join(', ');
  // An entry whose `type` matches no kind: name the type found and the ones this build has.
  const unknownType = (iss: { input?: unknown }): string =>
    `unknown source type ${JSON.stringify((iss.input as { type?: unknown } | undefined)?.type ?? null)}: this build has ${types}`;
  return z.array(schemas.length === 1 ? schemas[0] : z.discriminatedUnion('type', schemas, { error: unknownType }));
}

export function sourceKind(type: string): SourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.type === type);
}
