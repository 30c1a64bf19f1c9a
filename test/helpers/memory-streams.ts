// TEST DOUBLE: an in-memory LocalStreams (gateway/store/types.ts) for unit tests of components
// that consume streams (the exporter loop). It is not the store: no durability, no group commit,
// no segments. It implements the contract's observable behaviour that consumers rely on:
// sequence numbers from 1, read from a sequence with limit/maxBytes, waitFor, consumer
// checkpoints with reclaim behind the slowest consumer, and onFull 'drop-oldest' by maxBytes.
// Knobs let tests inject failures (failAppends, failSetCheckpoint) and count calls.
import { metaEntries, type MetaValue } from '../../core/message.js';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import type { AppendRecord, ConsumerInfo, LocalStreams, ReadOptions, StoredRecord, StreamInfo, StreamOptions } from '../../gateway/store/types.js';

interface MemStream {
  options: StreamOptions;
  records: StoredRecord[];
  lastSeq: number;
  bytes: number;
  consumers: Map<string, number>;
  waiters: Set<{ seq: number; resolve: () => void }>;
  droppedRecords: number;
}

export class MemoryStreams implements LocalStreams {
  private readonly streams = new Map<string, MemStream>();
  private readonly meta = new Map<string, Buffer>();
  private closed = false;
  /** Appends to these streams fail (to test dead-letter append failures). */
  readonly failAppends = new Set<string>();
  /** When > 0, that many setCheckpoint calls fail. */
  failSetCheckpoint = 0;
  readonly calls = { read: 0, setCheckpoint: 0, append: 0 };

  async open(): Promise<void> {
    this.closed = false;
  }

  /** No append ever waits for space here (appends never block in this double). */
  refuseWaitingForSpace(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async defineStream(options: StreamOptions): Promise<void> {
    const s = this.streams.get(options.name);
    if (s) s.options = options;
    else this.streams.set(options.name, { options, records: [], lastSeq: 0, bytes: 0, consumers: new Map(), waiters: new Set(), droppedRecords: 0 });
  }

  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  hasStream(name: string): boolean {
    return this.streams.has(name);
  }

  private get(name: string): MemStream {
    if (this.closed) throw new GatehouseError('GH_STORE_CLOSED', 'memory store is closed');
    const s = this.streams.get(name);
    if (!s) throw ERRORS.GH_STREAM_UNKNOWN({ stream: name });
    return s;
  }

  async append(stream: string, record: AppendRecord): Promise<number> {
    this.calls.append++;
    const s = this.get(stream);
    if (this.failAppends.has(stream)) throw new GatehouseError('GH_STREAM_FULL', `injected append failure on '${stream}'`);
    const seq = ++s.lastSeq;
    const stored: StoredRecord = { ...record, stream, seq };
    s.records.push(stored);
    s.bytes += record.payload.length + record.topic.length;
    while (s.bytes > s.options.maxBytes && s.records.length > 1) {
      const old = s.records.shift()!;
      s.bytes -= old.payload.length + old.topic.length;
      s.droppedRecords++;
    }
    for (const w of s.waiters) {
      if (seq >= w.seq) {
        s.waiters.delete(w);
        w.resolve();
      }
    }
    return seq;
  }

  /** Append many records (test convenience). */
  async appendMany(stream: string, records: AppendRecord[]): Promise<number[]> {
    const out: number[] = [];
    for (const r of records) out.push(await this.append(stream, r));
    return out;
  }

  async read(stream: string, fromSeq: number, options: ReadOptions = {}): Promise<StoredRecord[]> {
    this.calls.read++;
    const s = this.get(stream);
    const limit = options.limit ?? 500;
    const maxBytes = options.maxBytes ?? Infinity;
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (const r of s.records) {
      if (r.seq < fromSeq) continue;
      if (out.length >= limit) break;
      if (out.length > 0 && bytes + r.payload.length > maxBytes) break;
      bytes += r.payload.length;
      out.push(r);
    }
    return out;
  }

  async firstHeld(stream: string, fromSeq: number): Promise<number | undefined> {
    return this.get(stream).records.find((r) => r.seq >= fromSeq)?.seq;
  }

  waitFor(stream: string, seq: number, signal?: AbortSignal): Promise<void> {
    const s = this.get(stream);
    if (s.lastSeq >= seq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        s.waiters.delete(w);
        const err = new Error('waitFor aborted');
        err.name = 'AbortError';
        reject(err);
      };
      const w = {
        seq,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      s.waiters.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async addConsumer(stream: string, consumer: string): Promise<void> {
    const s = this.get(stream);
    if (!s.consumers.has(consumer)) s.consumers.set(consumer, 0);
  }

  async removeConsumer(stream: string, consumer: string): Promise<void> {
    this.get(stream).consumers.delete(consumer);
  }

  async getCheckpoint(stream: string, consumer: string): Promise<number> {
    return this.get(stream).consumers.get(consumer) ?? 0;
  }

  async setCheckpoint(stream: string, consumer: string, seq: number): Promise<void> {
    this.calls.setCheckpoint++;
    const s = this.get(stream);
    if (this.failSetCheckpoint > 0) {
      this.failSetCheckpoint--;
      throw new GatehouseError('GH_STORE_CORRUPT', 'injected setCheckpoint failure');
    }
    s.consumers.set(consumer, seq);
    // Reclaim behind the slowest consumer.
    let min = Infinity;
    for (const c of s.consumers.values()) min = Math.min(min, c);
    while (s.records.length > 0 && s.records[0]!.seq <= min) {
      const old = s.records.shift()!;
      s.bytes -= old.payload.length + old.topic.length;
    }
  }

  info(stream: string): StreamInfo {
    const s = this.get(stream);
    const consumers: ConsumerInfo[] = [...s.consumers].map(([name, checkpoint]) => ({ name, checkpoint }));
    return {
      name: stream,
      options: s.options,
      firstSeq: s.records[0]?.seq ?? s.lastSeq + 1,
      lastSeq: s.lastSeq,
      records: s.records.length,
      bytes: s.bytes,
      oldestAt: s.records[0]?.receivedAt,
      consumers,
      droppedRecords: s.droppedRecords,
      rejectedAppends: 0,
    };
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    return this.meta.get(key);
  }

  async putMeta(key: string, value: Buffer): Promise<void> {
    this.meta.set(key, value);
  }

  async metaKeys(prefix: string): Promise<string[]> {
    return [...this.meta.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async deleteMetas(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.meta.delete(k);
  }

  async putMetas(entries: ReadonlyArray<readonly [key: string, value: Buffer]>): Promise<void> {
    for (const [key, value] of entries) this.meta.set(key, value);
  }

  /** In memory every append is "written" when it resolves, so FIFO order holds trivially. */
  async commitMeta(key: string, value: MetaValue): Promise<void> {
    for (const [name, v] of metaEntries(value)) {
      if (v === null) this.meta.delete(key + name);
      else this.meta.set(key + name, v);
    }
  }

  async sweep(): Promise<void> {}

  async compact(): Promise<void> {}
}

export async function memoryStreams(): Promise<MemoryStreams> {
  const m = new MemoryStreams();
  await m.open();
  return m;
}
