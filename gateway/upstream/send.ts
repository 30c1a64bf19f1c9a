// One send of a batch to the destination, for the exporter loop (exporter.ts): abandoned when its
// abort signal fires even if the destination ignores it, its results checked against the batch,
// timed and counted. Never throws: a failed send is its Error (outcomes.ts sorts it).
import { performance } from 'node:perf_hooks';
import { abortable } from '../../core/abortable.js';
import type { StoredRecord } from '../store/types.js';
import type { Entry } from './batcher.js';
import type { ExporterMetrics } from './status.js';
import type { Destination, RecordResult } from './types.js';

export async function sendBatch(
  dest: Destination,
  batch: Entry[],
  signal: AbortSignal,
  metrics: Pick<ExporterMetrics, 'batchRecords' | 'sendSeconds'>,
): Promise<RecordResult[] | Error> {
  const recs: StoredRecord[] = new Array(batch.length);
  for (let i = 0; i < batch.length; i++) recs[i] = batch[i]!.rec;
  metrics.batchRecords.observe(batch.length);
  const t0 = performance.now();
  try {
    // The stop timer's abort ends the wait even for a destination that does not honour it (the
    // file destination writing to a hung disk, an NFS hard mount): its send is abandoned, its
    // records stay unexported (resent at the next start).
    const results = await abortable(dest.send(recs, signal), signal);
    if (!Array.isArray(results) || results.length !== batch.length) {
      return new Error(
        `destination ${dest.kind} returned ${Array.isArray(results) ? results.length : 'no'} results for ${batch.length} records (a destination bug)`,
      );
    }
    return results;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    metrics.sendSeconds.observe((performance.now() - t0) / 1000);
  }
}
