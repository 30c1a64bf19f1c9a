// What a written group commit does to each stream's in-memory state: drops planned for a full
// 'drop-oldest' stream take effect, the new segment is counted (head, records, bytes) and cached
// for a tailing reader, lastSeq moves on, and the appends resolve with their sequence numbers in
// order. Only after the write: the counters always match the keys on disk. How and when a commit
// is written (queue, pacing, the structural lock, a failed write) is committer.ts.
import type { HeadOps, HeadPlan } from './head.js';
import type { PendingBatch, Resolve, StreamState } from './state.js';

/**
 * Apply a written commit. Stream i wrote batches[i] with plans[i] (drop-oldest deletes, if any),
 * trims[i] records of the batch itself dropped, and values[i] its segment value (undefined when
 * the batch was trimmed away): the committer's per-commit arrays, read by index, nothing allocated.
 */
export function applyCommit(
  head: HeadOps,
  streams: readonly StreamState[],
  batches: readonly PendingBatch[],
  plans: ReadonlyArray<HeadPlan | undefined>,
  trims: readonly number[],
  values: ReadonlyArray<Buffer | undefined>,
  /** Whether stream i's tally was in the write (tally.ts). */
  tallied: readonly boolean[],
): void {
  for (let i = 0; i < streams.length; i++) {
    const s = streams[i] as StreamState;
    const b = batches[i] as PendingBatch;
    const plan = plans[i];
    const trim = trims[i] as number;
    const firstSeq = s.lastSeq + 1;
    const n = b.recs.length;
    if (plan) {
      head.apply(s, plan);
      head.countDropped(s, plan.records, 'full');
    }
    if (trim > 0) head.countDropped(s, trim, 'full');
    if (trim < n) {
      const bytes = trim === 0 ? b.bytes : b.bytes - head.bytesBefore(b, trim);
      if (s.headSeq === 0) {
        s.headSeq = firstSeq + trim;
        s.oldestAt = b.minAt;
      }
      s.lastSegSeq = firstSeq + trim;
      s.physRecords += n - trim;
      s.physBytes += bytes;
      s.untalliedBytes += bytes;
      // A stream with consumers is read right behind its appends (an exporter tailing it): the
      // segment is in memory already, so its first read costs no database round trip. Reclaim
      // drops it once every consumer is past it; without consumers nothing is cached here.
      const value = values[i];
      if (value !== undefined && s.consumers.size > 0) s.cache.add(firstSeq + trim, n - trim, value);
    }
    if (tallied[i]) s.untalliedBytes = 0;
    s.lastSeq = firstSeq + n - 1;
    s.reserved -= b.bytes;
    s.counters?.appended.inc(n);
    for (let j = 0; j < n; j++) (b.resolves[j] as Resolve)(firstSeq + j);
    if (s.seqWaiters.length > 0) s.wakeSeq();
  }
}
