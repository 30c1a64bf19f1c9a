// The store's meta area: small durable values by key beside the streams (rule sets, rule state
// checkpoints, sources' positions), under the meta key prefix (codec.ts metaKey). putMany and
// delete are one fsynced write each, through the store's write so the disk guard sees a
// failure; commit writes in the next group commit, in FIFO order with the appends submitted
// before it (committer.ts submitMeta). LevelLocalStreams (local-streams.ts) delegates its
// getMeta, putMetas, metaKeys, deleteMetas and commitMeta here (putMeta goes through putMetas).
import type { MetaValue } from '../../core/message.js';
import { metaKey } from './codec.js';
import type { GroupCommitter } from './committer.js';
import type { Db } from './database.js';
import type { BatchOp } from './head.js';

/** What the meta area works through: the store's current handle, write path, group commit and open check. */
export interface MetaAreaDeps {
  /** The database handle now (a reopen after a failed write replaces it). */
  db(): Db;
  /** The store's write (the disk guard sees its I/O errors). */
  write(ops: BatchOp[], sync: boolean): Promise<void>;
  commits: Pick<GroupCommitter, 'submitMeta'>;
  /** Throws GH_STORE_CLOSED unless the store is open. */
  ensureOpen(): void;
}

export class MetaArea {
  constructor(private readonly deps: MetaAreaDeps) {}

  async get(key: string): Promise<Buffer | undefined> {
    this.deps.ensureOpen();
    return this.deps.db().get(metaKey(key));
  }

  /** One write: after a crash, every entry is on disk or none. */
  async putMany(entries: ReadonlyArray<readonly [key: string, value: Buffer]>): Promise<void> {
    this.deps.ensureOpen();
    if (entries.length === 0) return;
    await this.deps.write(
      entries.map(([key, value]) => ({ type: 'put' as const, key: metaKey(key), value })),
      true,
    );
  }

  /** The keys starting with prefix, in key order. */
  async keys(prefix: string): Promise<string[]> {
    this.deps.ensureOpen();
    const from = metaKey(prefix);
    const keys = await this.deps
      .db()
      .keys({ gte: from, lt: Buffer.concat([from, Buffer.from([0xff])]) })
      .all();
    return keys.map((k) => k.toString('utf8', 1));
  }

  async delete(keys: readonly string[]): Promise<void> {
    this.deps.ensureOpen();
    if (keys.length > 0)
      await this.deps.write(
        keys.map((key) => ({ type: 'del' as const, key: metaKey(key) })),
        true,
      );
  }

  /** Written in the group commit after the appends submitted before it (throws at once when the store is not open). */
  commit(key: string, value: MetaValue): Promise<void> {
    this.deps.ensureOpen();
    return this.deps.commits.submitMeta(metaKey(key), value);
  }
}
