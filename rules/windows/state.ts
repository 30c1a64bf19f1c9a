// Checkpoints of stateful rules (windows, detectors): one blob per rule in the store's meta area,
// keyed by rule name + a hash of its SQL, so a changed rule never restores a foreign state.
import { createHash } from 'node:crypto';
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { CompiledQuery } from '../sql/compile-types.js';

/** The slice of LocalStreams the engine needs (getMeta/putMeta). */
export interface StateStore {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, value: Buffer): Promise<void>;
}

/** Adapter over LocalStreams' meta area. */
export function metaStateStore(meta: { getMeta(key: string): Promise<Buffer | undefined>; putMeta(key: string, value: Buffer): Promise<void> }): StateStore {
  return { get: (k) => meta.getMeta(k), put: (k, v) => meta.putMeta(k, v) };
}

/** In-memory store (tests, `rules eval`). */
export function memoryStateStore(): StateStore & { data: Map<string, Buffer> } {
  const data = new Map<string, Buffer>();
  return {
    data,
    get: async (k) => data.get(k),
    put: async (k, v) => void data.set(k, Buffer.from(v)),
  };
}

export function isStateful(q: CompiledQuery): boolean {
  return q.windowed !== undefined || (q.stateSites?.length ?? 0) > 0;
}

export function stateKey(ruleName: string, q: CompiledQuery): string {
  const h = createHash('sha256').update(`${q.sqlVersion}\n${q.sql}`).digest('hex').slice(0, 16);
  return `rules/state/${ruleName}/${h}`;
}

const MAGIC = Buffer.from('GHQ1');

/**
 * GHQ1 | u32 header length | header JSON [[name, length]...] | sections. `extra` sections (the
 * input log position a checkpoint covers) ride along; older readers ignore unknown sections.
 */
export function snapshotQuery(q: CompiledQuery, extra: Array<[string, Buffer]> = []): Buffer {
  const parts: Array<[string, Buffer]> = [...extra];
  if (q.windowed) parts.push(['window', q.windowed.snapshot()]);
  for (const s of q.stateSites ?? []) parts.push([`site:${s.key}`, s.state.snapshot()]);
  const header = Buffer.from(JSON.stringify(parts.map(([k, b]) => [k, b.length])), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([MAGIC, len, header, ...parts.map(([, b]) => b)]);
}

/**
 * Restore every section that matches a part of q (its window state only with `windows`); returns
 * every section (callers read their own).
 */
export function restoreQuery(q: CompiledQuery, bytes: Buffer, windows = true): Map<string, Buffer> {
  const corrupt = (why: string): GatehouseError =>
    ERRORS.GH_STORE_CORRUPT(
      { what: 'the rule state checkpoint', reason: why },
      {
        where: 'rule state',
        hint: 'the state is ignored; the rule starts fresh',
      },
    );
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) throw corrupt('bad magic');
  const hl = bytes.readUInt32BE(4);
  if (8 + hl > bytes.length) throw corrupt('truncated header');
  let header: Array<[string, number]>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + hl).toString('utf8')) as Array<[string, number]>;
  } catch {
    throw corrupt('bad header');
  }
  let off = 8 + hl;
  const sections = new Map<string, Buffer>();
  for (const [name, n] of header) {
    if (off + n > bytes.length) throw corrupt('truncated section');
    sections.set(name, bytes.subarray(off, off + n));
    off += n;
  }
  const w = sections.get('window');
  if (q.windowed && w && windows) q.windowed.restore(w);
  for (const s of q.stateSites ?? []) {
    const b = sections.get(`site:${s.key}`);
    if (b) s.state.restore(b);
  }
  return sections;
}
