// The bytes a window rule's groups hold, for ruleState.maxGroupBytes: each kept message once
// (a hopping window's size/hop groups of one key, and an event waiting for the watermark, share
// one message), plus the rows of sliding and count windows. An estimate of the heap they take,
// cheap enough to keep per event: a message is its payload, topic and MQTT 5 properties plus a
// fixed overhead; a row its aggregate argument values plus a fixed overhead; the values collect,
// percentile and first/last keep in a time window's or session's accumulators likewise.
import type { Message } from '../../core/message.js';
import type { Value } from '../sql/values.js';

/** The Message object, its source, the Buffer object and the accounting entry (measured: ~250 B). */
const MESSAGE_OVERHEAD = 256;
/** A row: its timestamp slot, values array and slot in the group's arrays. */
const ROW_OVERHEAD = 64;

function stringBytes(s: string | undefined): number {
  return s === undefined ? 0 : 16 + s.length;
}

/** A message's bytes, as kept by a group (keptMessage owns its payload). */
export function messageBytes(m: Message): number {
  let n = MESSAGE_OVERHEAD + m.payload.length + stringBytes(m.topic) + stringBytes(m.traceId);
  const p = m.properties;
  if (p) {
    n += (p.correlationData?.length ?? 0) + stringBytes(p.responseTopic) + stringBytes(p.contentType);
    for (const [k, v] of Object.entries(p.userProperties ?? {})) {
      n += stringBytes(k);
      for (const s of Array.isArray(v) ? v : [v]) n += stringBytes(s);
    }
  }
  return n;
}

/** A value's bytes (an object's keys and values; numbers, booleans and null a slot). */
export function valueBytes(v: Value | unknown): number {
  if (typeof v === 'string') return stringBytes(v);
  if (Buffer.isBuffer(v)) return 64 + v.length;
  if (v === null || typeof v !== 'object') return 8;
  let n = 32;
  if (Array.isArray(v)) for (const x of v) n += valueBytes(x);
  else for (const [k, x] of Object.entries(v)) n += stringBytes(k) + valueBytes(x);
  return n;
}

export function rowBytes(vals: readonly Value[]): number {
  let n = ROW_OVERHEAD;
  for (const v of vals) n += valueBytes(v);
  return n;
}

/** What the accumulators of a time window or session group hold (collect, percentile, first/last). */
export function accBytes(accs: ReadonlyArray<{ bytes?(): number }>): number {
  let n = 0;
  for (const a of accs) n += a.bytes?.() ?? 0;
  return n;
}

/** The bytes held: kept messages counted once (reference counts), and rows. */
export class GroupBytes {
  total = 0;
  private readonly refs = new Map<Message, { n: number; bytes: number }>();

  hold(m: Message): void {
    const r = this.refs.get(m);
    if (r) r.n++;
    else {
      const bytes = messageBytes(m);
      this.refs.set(m, { n: 1, bytes });
      this.total += bytes;
    }
  }

  release(m: Message): void {
    const r = this.refs.get(m);
    if (!r) return;
    if (--r.n > 0) return;
    this.refs.delete(m);
    this.total -= r.bytes;
  }

  /** A group's last message replaced by `next`. */
  swap(old: Message, next: Message): void {
    if (old === next) return;
    this.hold(next);
    this.release(old);
  }

  rows(delta: number): void {
    this.total += delta;
  }

  clear(): void {
    this.refs.clear();
    this.total = 0;
  }
}
