// A destination double for the exporter loop's unit tests about parked (poison) records: it refuses
// the records it is told to wherever they are in a batch (the whole send fails, as an endpoint that
// answers HTTP 500 when a batch carries them), and accepts every other record. A double because no
// real peer refuses chosen records on demand; the real destinations have their own tests.
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from './memory-streams.js';

export const FAULT: RecordResult = { ok: false, retryable: true, error: 'HTTP 500 (scripted)' };

export class PoisonDestination implements Destination {
  readonly kind = 'scripted';
  readonly target = 'memory';
  readonly limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20 };
  /** Sequences of each send, in order. */
  readonly sends: number[][] = [];
  readonly delivered = new Set<number>();
  constructor(private readonly poison: ReadonlySet<number>) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(records: readonly StoredRecord[]): Promise<RecordResult[]> {
    this.sends.push(records.map((r) => r.seq));
    // A turn of the event loop, as a network round trip takes: a loop that resends without end
    // must not starve the test's timers.
    await new Promise((resolve) => setImmediate(resolve));
    if (records.some((r) => this.poison.has(r.seq))) return records.map(() => FAULT);
    for (const r of records) this.delivered.add(r.seq);
    return records.map(() => ({ ok: true }));
  }
}

/** MemoryStreams holding stream 'telemetry' with records 1..n (payload `{"i":seq}`). */
export async function telemetryStreamOf(n: number): Promise<MemoryStreams> {
  const streams = new MemoryStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  for (let i = 1; i <= n; i++) await streams.append('telemetry', { topic: 'dev/1', payload: Buffer.from(`{"i":${i}}`), receivedAt: Date.now() });
  return streams;
}
