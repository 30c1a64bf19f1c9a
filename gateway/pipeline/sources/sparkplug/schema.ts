// The Sparkplug B `Payload` message (the Sparkplug specification's wire format, package
// org.eclipse.tahu.protobuf), described here field by field for protobufjs' reflection: no user
// file is needed, unlike `decode(*, 'proto', ...)` in a rule. Written from the specification's
// field names and numbers (the interface), not copied from Eclipse Tahu's sparkplug_b.proto
// (EPL-2.0: docs/sparkplug.md has users fetch that one). The `extension_value` members and the
// `extensions` ranges are left out: protobufjs skips fields it does not know, so a metric that
// carries only an extension decodes with no value.
//
// protobufjs loads with the first sparkplug source (lazily, as the rule function's does).
import { lazyPackage } from '../../../../core/lazy-package.js';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;

/** The oneof `value` of a metric, a dataset cell, a template parameter and a property value: names and ids differ per message. */
const scalarValues = (first: number, names: readonly string[]): Fields => {
  const types = ['uint32', 'uint64', 'float', 'double', 'bool', 'string'];
  return Object.fromEntries(names.map((n, i) => [n, { type: types[i]!, id: first + i }]));
};
const SCALAR_NAMES = ['intValue', 'longValue', 'floatValue', 'doubleValue', 'booleanValue', 'stringValue'] as const;

/** protobufjs' JSON form of the Payload message and its nested types. */
export const SPARKPLUG_PAYLOAD_JSON = {
  nested: {
    Payload: {
      fields: {
        timestamp: { type: 'uint64', id: 1 },
        metrics: { rule: 'repeated', type: 'Metric', id: 2 },
        seq: { type: 'uint64', id: 3 },
        uuid: { type: 'string', id: 4 },
        body: { type: 'bytes', id: 5 },
      },
      nested: {
        Template: {
          fields: {
            version: { type: 'string', id: 1 },
            metrics: { rule: 'repeated', type: 'Metric', id: 2 },
            parameters: { rule: 'repeated', type: 'Parameter', id: 3 },
            templateRef: { type: 'string', id: 4 },
            isDefinition: { type: 'bool', id: 5 },
          },
          nested: {
            Parameter: {
              oneofs: { value: { oneof: [...SCALAR_NAMES] } },
              fields: { name: { type: 'string', id: 1 }, type: { type: 'uint32', id: 2 }, ...scalarValues(3, SCALAR_NAMES) },
            },
          },
        },
        DataSet: {
          fields: {
            numOfColumns: { type: 'uint64', id: 1 },
            columns: { rule: 'repeated', type: 'string', id: 2 },
            types: { rule: 'repeated', type: 'uint32', id: 3 },
            rows: { rule: 'repeated', type: 'Row', id: 4 },
          },
          nested: {
            DataSetValue: { oneofs: { value: { oneof: [...SCALAR_NAMES] } }, fields: scalarValues(1, SCALAR_NAMES) },
            Row: { fields: { elements: { rule: 'repeated', type: 'DataSetValue', id: 1 } } },
          },
        },
        PropertyValue: {
          oneofs: { value: { oneof: [...SCALAR_NAMES, 'propertysetValue', 'propertysetsValue'] } },
          fields: {
            type: { type: 'uint32', id: 1 },
            isNull: { type: 'bool', id: 2 },
            ...scalarValues(3, SCALAR_NAMES),
            propertysetValue: { type: 'PropertySet', id: 9 },
            propertysetsValue: { type: 'PropertySetList', id: 10 },
          },
        },
        PropertySet: {
          fields: { keys: { rule: 'repeated', type: 'string', id: 1 }, values: { rule: 'repeated', type: 'PropertyValue', id: 2 } },
        },
        PropertySetList: { fields: { propertyset: { rule: 'repeated', type: 'PropertySet', id: 1 } } },
        MetaData: {
          fields: {
            isMultiPart: { type: 'bool', id: 1 },
            contentType: { type: 'string', id: 2 },
            size: { type: 'uint64', id: 3 },
            seq: { type: 'uint64', id: 4 },
            fileName: { type: 'string', id: 5 },
            fileType: { type: 'string', id: 6 },
            md5: { type: 'string', id: 7 },
            description: { type: 'string', id: 8 },
          },
        },
        Metric: {
          oneofs: { value: { oneof: [...SCALAR_NAMES, 'bytesValue', 'datasetValue', 'templateValue'] } },
          fields: {
            name: { type: 'string', id: 1 },
            alias: { type: 'uint64', id: 2 },
            timestamp: { type: 'uint64', id: 3 },
            datatype: { type: 'uint32', id: 4 },
            isHistorical: { type: 'bool', id: 5 },
            isTransient: { type: 'bool', id: 6 },
            isNull: { type: 'bool', id: 7 },
            metadata: { type: 'MetaData', id: 8 },
            properties: { type: 'PropertySet', id: 9 },
            ...scalarValues(10, SCALAR_NAMES),
            bytesValue: { type: 'bytes', id: 16 },
            datasetValue: { type: 'DataSet', id: 17 },
            templateValue: { type: 'Template', id: 18 },
          },
        },
      },
    },
  },
} as const;

// What the decoded plain objects hold (toObject with 64-bit integers as decimal strings, bytes as
// Buffers, unset fields left out).
export interface RawScalars {
  intValue?: number;
  longValue?: string;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
}
export interface RawPropertyValue extends RawScalars {
  type?: number;
  isNull?: boolean;
  propertysetValue?: RawPropertySet;
  propertysetsValue?: { propertyset?: RawPropertySet[] };
}
export interface RawPropertySet {
  keys?: string[];
  values?: RawPropertyValue[];
}
export interface RawDataSet {
  numOfColumns?: string;
  columns?: string[];
  types?: number[];
  rows?: Array<{ elements?: RawScalars[] }>;
}
export interface RawTemplate {
  version?: string;
  metrics?: RawMetric[];
  parameters?: Array<RawScalars & { name?: string; type?: number }>;
  templateRef?: string;
  isDefinition?: boolean;
}
export interface RawMetric extends RawScalars {
  name?: string;
  alias?: string;
  timestamp?: string;
  datatype?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  isNull?: boolean;
  metadata?: Record<string, unknown>;
  properties?: RawPropertySet;
  bytesValue?: Buffer;
  datasetValue?: RawDataSet;
  templateValue?: RawTemplate;
}
export interface RawPayload {
  timestamp?: string;
  metrics?: RawMetric[];
  seq?: string;
  uuid?: string;
  body?: Buffer;
}

// The parts of protobufjs used (its typings spread over several entry points).
interface PbMessage {
  readonly $type?: unknown;
}
interface PbType {
  decode(bytes: Uint8Array): PbMessage;
  toObject(message: PbMessage, options: Record<string, unknown>): unknown;
  fromObject(object: Record<string, unknown>): PbMessage;
  encode(message: PbMessage): { finish(): Uint8Array };
}
interface PbLight {
  Root: { fromJSON(json: unknown): { lookupType(name: string): PbType } };
}

const light = lazyPackage<PbLight>('protobufjs/light', 'the sparkplug source');
let payloadType: PbType | undefined;

/**
 * Each message type marked proto2 (explicit presence): protobufjs reads a JSON type without it as
 * proto3, whose encoder leaves out a field set to zero (an NBIRTH's seq 0, a bdSeq of 0).
 */
function proto2(nested: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(nested).map(([name, t]) => {
      const type = t as { nested?: Record<string, unknown> };
      return [name, { ...type, edition: 'proto2', ...(type.nested ? { nested: proto2(type.nested) } : {}) }];
    }),
  );
}

function payload(): PbType {
  payloadType ??= light()
    .Root.fromJSON({ nested: proto2(SPARKPLUG_PAYLOAD_JSON.nested) })
    .lookupType('Payload');
  return payloadType;
}

/** 64-bit integers as decimal strings (exact), bytes as Buffers, unset fields left out. */
const TO_OBJECT = { longs: String, defaults: false, arrays: false };

/** Decode a Sparkplug B payload; throws (protobufjs' error) on bytes that are not one. */
export function decodePayload(bytes: Uint8Array): RawPayload {
  const t = payload();
  return t.toObject(t.decode(bytes), TO_OBJECT) as RawPayload;
}

/** Encode a payload given as protobufjs' plain object form (64-bit fields as numbers or strings). */
export function encodePayload(p: Record<string, unknown>): Buffer {
  const t = payload();
  return Buffer.from(t.encode(t.fromObject(p)).finish());
}
