// Meta puts in the group commit (commitMeta; committer.ts submitMeta): the puts not yet written, in
// submission order. Each carries a barrier, the ticket of the last append submitted before it, and
// joins a batch only once no append at or before its barrier is held back (by the queue bound or a
// full 'reject' stream): meta puts and appends are written in FIFO order. A queued put of a key is
// superseded by a newer put of it: only the newest value is written, and the older put settles
// with it. When the batch is cut, each put's value is made (MetaValue: bytes, or a function making
// several keys or deletes, MetaEntries in core/message.ts); a value that cannot be made fails its
// own put, not the batch. Apart from committer.ts, which cuts and writes the batches: what a meta
// put is and when it may go, not how a commit is written. Nothing here runs per append.
import { metaEntries, type MetaEntries, type MetaValue } from '../../core/message.js';
import type { BatchOp } from './head.js';
import type { WaitingAppend } from './state.js';

export interface PendingMeta {
  key: Buffer;
  /** The bytes, or a function that makes them when the batch is cut (MetaValue). */
  value: MetaValue;
  /** Ticket of the last append submitted before it. */
  barrier: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Older puts of the same key it superseded (see queueMeta): settled with it. */
  others?: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

export function resolveMeta(m: PendingMeta): void {
  m.resolve();
  for (const o of m.others ?? []) o.resolve();
}

export function rejectMeta(m: PendingMeta, err: unknown): void {
  m.reject(err);
  for (const o of m.others ?? []) o.reject(err);
}

/** Queue a put of `key` after the append with ticket `barrier`, superseding a queued put of the same key. */
export function queueMeta(metas: PendingMeta[], key: Buffer, value: MetaValue, barrier: number, resolve: () => void, reject: (err: unknown) => void): void {
  // A queued put of the same key is superseded: only the newest value is written (its barrier is
  // at or after the older one's), and the older put settles with it. A file source's state after
  // every chunk, all kept and written, made ~1 GB of writes for a 55 MB backfill of 2,400 files.
  const i = metas.findIndex((m) => m.key.equals(key));
  let others: PendingMeta['others'];
  if (i >= 0) {
    const [older] = metas.splice(i, 1) as [PendingMeta];
    others = older.others ?? [];
    others.push({ resolve: older.resolve, reject: older.reject });
  }
  metas.push({ key, value, barrier, resolve, reject, ...(others ? { others } : {}) });
}

/** How many queued meta puts may join the batch being formed now (no append before them is held back). */
export function readyCount(metas: readonly PendingMeta[], held: ReadonlySet<WaitingAppend>): number {
  if (metas.length === 0) return 0;
  let minHeld = Infinity;
  for (const w of held) if (w.ticket < minHeld) minHeld = w.ticket;
  let n = 0;
  while (n < metas.length && (metas[n] as PendingMeta).barrier < minHeld) n++;
  return n;
}

/** The puts' keys (written or deleted) pushed to `ops`; a put whose value cannot be made is rejected and taken out of `metas`. */
export function pushMetaOps(metas: PendingMeta[], ops: BatchOp[]): void {
  for (let i = 0; i < metas.length; i++) {
    const m = metas[i] as PendingMeta;
    let entries: MetaEntries;
    try {
      entries = metaEntries(m.value);
    } catch (err) {
      // a value that cannot be made fails its own put, not the batch
      rejectMeta(m, err);
      metas.splice(i--, 1);
      continue;
    }
    for (const [name, value] of entries) {
      const key = name === '' ? m.key : Buffer.concat([m.key, Buffer.from(name)]);
      ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
    }
  }
}
