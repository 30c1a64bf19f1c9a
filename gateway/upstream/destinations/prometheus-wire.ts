// Remote write 1.0's body: a prometheus.WriteRequest (prometheus/prompb/remote.proto, types.proto)
// in protobuf, snappy block-compressed. The message types are declared here through protobufjs's
// reflection (no .proto file to ship or find at run time), with only the fields remote write 1.0
// senders fill: timeseries (labels, samples); exemplars, histograms and metadata are left out.
// protobufjs and snappyjs are required on first use: a gateway without this destination loads neither.
import { lazyPackage } from '../../../core/lazy-package.js';
import type { Series } from './prometheus-series.js';

// The parts of protobufjs/light used here.
interface PbType {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}
interface PbLight {
  Root: { fromJSON(json: unknown): { lookupType(name: string): PbType } };
}
interface Snappy {
  compress(b: Buffer): Buffer;
  uncompress(b: Buffer, maxLength?: number): Buffer;
}

const FEATURE = 'the prometheus destination';
const light = lazyPackage<PbLight>('protobufjs/light', FEATURE);
const snappy = lazyPackage<Snappy>('snappyjs', FEATURE);

/** remote.proto's WriteRequest and types.proto's TimeSeries, Label, Sample: field numbers as Prometheus defines them. */
const REMOTE_PROTO = {
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
        TimeSeries: {
          fields: {
            labels: { rule: 'repeated', type: 'Label', id: 1 },
            samples: { rule: 'repeated', type: 'Sample', id: 2 },
          },
        },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
      },
    },
  },
};

let writeRequest: PbType | undefined;

/** The WriteRequest type, built once (protobufjs generates its encoder on first use). */
function writeRequestType(): PbType {
  writeRequest ??= light().Root.fromJSON(REMOTE_PROTO).lookupType('prometheus.WriteRequest');
  return writeRequest;
}

/** Load both packages now: a missing one is GH_PACKAGE_MISSING at start, not at the first send. */
export function loadWirePackages(): void {
  writeRequestType();
  snappy();
}

/** The request body of `series`: WriteRequest, protobuf, snappy block format. */
export function encodeWriteRequest(series: readonly Series[]): Buffer {
  const bytes = writeRequestType().encode({ timeseries: series }).finish();
  return snappy().compress(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** A body read back (tests, the bench): timestamps as numbers. */
export function decodeWriteRequest(body: Buffer): { timeseries: Series[] } {
  const type = writeRequestType();
  const msg = type.decode(snappy().uncompress(body));
  return type.toObject(msg, { longs: Number, defaults: true, arrays: true }) as { timeseries: Series[] };
}
