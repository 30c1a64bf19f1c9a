// The prometheus destination's encoding, without a server: records/s turned into a remote write
// body (JSON parse, samples and labels, sorting per series, protobuf by protobufjs reflection,
// snappy by snappyjs), and the body's bytes against the records' JSON payload bytes. Telemetry as
// devices send it: 100 trucks, 4 numbers, a boolean and a string each, labels site and truck.
// Never asserts timings.
//
//   npm run -s build && node dist/test/bench/prometheus-encode.js
//   BENCH_RECORDS=100000 BENCH_BATCH=100,500,2000 node dist/test/bench/prometheus-encode.js
import type { StoredRecord } from '../../gateway/store/types.js';
import { prometheusOptionsSchema } from '../../gateway/upstream/destinations/prometheus-options.js';
import { writeBatch } from '../../gateway/upstream/destinations/prometheus-series.js';
import { encodeWriteRequest } from '../../gateway/upstream/destinations/prometheus-wire.js';

const N = Number(process.env.BENCH_RECORDS ?? 50_000);
const BATCHES = (process.env.BENCH_BATCH ?? '100,500,2000').split(',').map(Number);

const records: StoredRecord[] = Array.from({ length: N }, (_, i) => ({
  stream: 'bench',
  seq: i + 1,
  topic: `fleet/truck${i % 100}/engine`,
  payload: Buffer.from(
    JSON.stringify({
      site: 'depot-7',
      temp: 90 + (i % 10) / 10,
      rpm: 1200 + (i % 300),
      fuel: 55.5 - (i % 50) / 10,
      volts: 24.1,
      running: i % 7 !== 0,
      state: 'run',
    }),
  ),
  receivedAt: 1_700_000_000_000 + i * 10,
}));
const options = prometheusOptionsSchema.parse({ url: 'http://127.0.0.1:9090/api/v1/write', labels: ['site'], topicLabels: { truck: 2 } });

function run(batch: number): { perSec: number; bodyBytes: number; jsonBytes: number; samples: number } {
  let bodyBytes = 0;
  let jsonBytes = 0;
  let samples = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < records.length; i += batch) {
    const slice = records.slice(i, i + batch);
    const b = writeBatch(slice, options, 'depot-7');
    bodyBytes += encodeWriteRequest(b.series).length;
    samples += b.samples;
    for (const r of slice) jsonBytes += r.payload.length;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSec: records.length / s, bodyBytes, jsonBytes, samples };
}

run(500); // warm-up: protobufjs generates its encoder, V8 optimises
for (const batch of BATCHES) {
  const r = run(batch);
  console.log(
    `batch ${batch}: ${Math.round(r.perSec).toLocaleString('en')} records/s encoded (${Math.round((r.perSec * r.samples) / N).toLocaleString('en')} samples/s); body ${(r.bodyBytes / r.jsonBytes).toFixed(3)} bytes per JSON payload byte (${(r.bodyBytes / r.samples).toFixed(1)} per sample)`,
  );
}
