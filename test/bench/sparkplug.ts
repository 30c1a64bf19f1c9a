// What the sparkplug source's host costs per message, on one core: an NDATA of 20 metrics by alias
// (a mix of doubles, floats, Int64s and booleans, named by the NBIRTH before it) through the
// built-in decoder, the host state (names, datatypes, seq) and JSON.stringify of the message the
// rules get; the decode alone beside it. The payloads are made with the source's own encoder (a
// benchmark, not a test: the tests encode with protoc). Figures are noisy on a shared machine.
//
// Run: node dist/test/bench/sparkplug.js [seconds per figure, default 3]
import { decodePayload, encodePayload } from '../../gateway/pipeline/sources/sparkplug/schema.js';
import { SparkplugState } from '../../gateway/pipeline/sources/sparkplug/state.js';

const METRICS = 20;
const seconds = Number(process.argv[2] ?? 3);

const types = [10, 9, 4, 11];
const value = (i: number): Record<string, unknown> =>
  [{ doubleValue: 20 + i * 1.37 }, { floatValue: 0.1 * i }, { longValue: 1_000_000 + i }, { booleanValue: i % 2 === 0 }][i % 4]!;
const birth = encodePayload({
  timestamp: 1_700_000_000_000,
  seq: 0,
  metrics: [
    { name: 'bdSeq', datatype: 8, longValue: 0 },
    ...Array.from({ length: METRICS }, (_, i) => ({ name: `Line1/Tag${i}`, alias: i + 1, datatype: types[i % 4], ...value(i) })),
  ],
});
const ndata = Array.from({ length: 256 }, (_, seq) =>
  encodePayload({ timestamp: 1_700_000_000_000 + seq, seq, metrics: Array.from({ length: METRICS }, (_, i) => ({ alias: i + 1, ...value(i + seq) })) }),
);

function rate(what: string, fn: (i: number) => void): void {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) for (let k = 0; k < 1000; k++) fn(n++);
  const s = (performance.now() - start) / 1000;
  console.log(`${what}: ${Math.round(n / s).toLocaleString('en')} msgs/s (${((s / n) * 1e6).toFixed(2)} us/msg, ${ndata[0]!.length} B payload)`);
}

const state = new SparkplugState({ maxNodes: 1000, maxDevicesPerNode: 1000, maxMetricsPerNode: 10_000, rebirth: true, rebirthIntervalMs: 10_000 });
const t = { group: 'plant1', type: 'NDATA' as const, node: 'edge7' };
state.message({ ...t, type: 'NBIRTH' }, decodePayload(birth), 0);
let gaps = 0;
rate(`decode only, NDATA of ${METRICS} metrics`, (i) => void decodePayload(ndata[(i + 1) % 256]!));
rate(`decode + host state + JSON, NDATA of ${METRICS} metrics by alias`, (i) => {
  const out = state.message(t, decodePayload(ndata[(i + 1) % 256]!), i);
  gaps += out.problems.length;
  JSON.stringify(out.json);
});
console.log(`faults seen: ${gaps} (0 expected: the seq runs on)`);
