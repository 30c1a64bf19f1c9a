// Binary layout of the store's LevelDB keys and segment values (see docs/store.md).
//
// Keys (all Buffers; the first byte names the range):
//   'S' stream 0x00 firstSeq:u64 count:u32 bytes:u48 minAt:u48 maxAt:u48   one segment (a commit
//        batch's records of one stream). firstSeq comes first and is fixed width, so keys sort by
//        sequence; the rest of the key is the segment's summary, so opening, reclaim, retention
//        and ttl work from keys alone, without reading values.
//   'C' stream 0x00 consumer      -> u64 checkpoint
//   'H' stream                    -> u64 high-water mark (last seq), kept when segments are deleted
//   'H' stream 0x00               -> the stream's tally (tally.ts: what opening reads instead of every key)
//   'M' key                       -> meta value (caller's bytes)
//   'D'                           -> u64: the highest lastSeq of a dropped stream (drop.ts): a stream
//                                    defined anew starts after it, so no id <stream>:<seq> repeats
//   'V'                           -> format version
//   'I'                           -> the store's id: 16 random hex digits written with the format
//                                    version when the database is made (identity.ts)
// Segment value: magic 'G', version 1, count:u32, then `count` records:
//   receivedAt:f64 flags:u8 topicLen:u16 payloadLen:u32 [keyLen:u16] [attrCount:u16]
//   topic payload [key] [attrs: (keyLen:u16 valueLen:u32 key value)*]
import { ERRORS, GatehouseError } from '../../core/errors.js';
import type { AppendRecord, StoredRecord } from './types.js';

export const KEY_SEGMENT = 0x53; // 'S'
export const KEY_CHECKPOINT = 0x43; // 'C'
export const KEY_HWM = 0x48; // 'H'
export const KEY_META = 0x4d; // 'M'
export const KEY_FORMAT = 0x56; // 'V'
export const KEY_DROP_FLOOR = 0x44; // 'D'
export const KEY_STORE_ID = 0x49; // 'I'
/** Never written: deleted by the store's write check (write-check.ts). */
export const KEY_WRITE_CHECK = 0x57; // 'W'
export const FORMAT_VERSION = 1;

const SEG_MAGIC = 0x47;
const SEG_VERSION = 1;
export const SEG_HEADER = 6;
/** Fixed part of a record: receivedAt, flags, topicLen, payloadLen. */
const REC_FIXED = 15;
const FLAG_KEY = 1;
const FLAG_ATTRS = 2;
/** Bytes after the stream prefix in a segment key. */
const SEG_KEY_TAIL = 8 + 4 + 6 + 6 + 6;
const U32 = 0x1_0000_0000;
const MAX_U48 = 2 ** 48 - 1;

export function writeU64(buf: Buffer, n: number, off: number): void {
  buf.writeUInt32BE(Math.floor(n / U32), off);
  buf.writeUInt32BE(n >>> 0, off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * U32 + buf.readUInt32BE(off + 4);
}

export function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeU64(b, n, 0);
  return b;
}

/** Stream names become key bytes: they must not contain NUL and stay short. */
export function validStreamName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= 200 && !name.includes('\0');
}

/** 'S' name 0x00: every segment key of the stream starts with it. */
export function streamPrefix(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(n.length + 2);
  b[0] = KEY_SEGMENT;
  n.copy(b, 1);
  b[n.length + 1] = 0;
  return b;
}

/** First key after every key starting with prefix (prefix ends in 0x00, so bump that byte). */
export function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1] = (b[b.length - 1] as number) + 1;
  return b;
}

/** prefix + u64(seq): a seek target that sorts before every segment key starting at seq. */
export function seqKey(prefix: Buffer, seq: number): Buffer {
  const b = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(b, 0);
  writeU64(b, seq, prefix.length);
  return b;
}

export interface SegmentHead {
  firstSeq: number;
  count: number;
  /** Sum of the records' bytes (topic + payload + key + attrs). */
  bytes: number;
  minAt: number;
  maxAt: number;
}

function clampAt(at: number): number {
  return at <= 0 ? 0 : at >= MAX_U48 ? MAX_U48 : Math.floor(at);
}

export function segmentKey(prefix: Buffer, h: SegmentHead): Buffer {
  const p = prefix.length;
  const b = Buffer.allocUnsafe(p + SEG_KEY_TAIL);
  prefix.copy(b, 0);
  writeU64(b, h.firstSeq, p);
  b.writeUInt32BE(h.count, p + 8);
  b.writeUIntBE(Math.min(h.bytes, MAX_U48), p + 12, 6);
  b.writeUIntBE(clampAt(h.minAt), p + 18, 6);
  b.writeUIntBE(clampAt(h.maxAt), p + 24, 6);
  return b;
}

/** Summary of a segment from its key, or undefined when the key has the wrong shape. */
export function parseSegmentKey(key: Buffer, prefixLen: number): SegmentHead | undefined {
  if (key.length !== prefixLen + SEG_KEY_TAIL) return undefined;
  const count = key.readUInt32BE(prefixLen + 8);
  if (count === 0) return undefined;
  return {
    firstSeq: readU64(key, prefixLen),
    count,
    bytes: key.readUIntBE(prefixLen + 12, 6),
    minAt: key.readUIntBE(prefixLen + 18, 6),
    maxAt: key.readUIntBE(prefixLen + 24, 6),
  };
}

export function checkpointPrefix(stream: string): Buffer {
  return Buffer.concat([Buffer.from([KEY_CHECKPOINT]), Buffer.from(stream, 'utf8'), Buffer.from([0])]);
}

export function checkpointKey(stream: string, consumer: string): Buffer {
  return Buffer.concat([checkpointPrefix(stream), Buffer.from(consumer, 'utf8')]);
}

export function hwmKey(stream: string): Buffer {
  return Buffer.concat([Buffer.from([KEY_HWM]), Buffer.from(stream, 'utf8')]);
}

export function metaKey(key: string): Buffer {
  return Buffer.concat([Buffer.from([KEY_META]), Buffer.from(key, 'utf8')]);
}

/** Sizes of one record, filled by measureRecord (a reused object: no allocation per append). */
export interface RecordSize {
  /** Accounted bytes: topic + payload + key + attrs. */
  bytes: number;
  /** Encoded bytes in a segment value. */
  encoded: number;
}

function tooLarge(what: string, limit: string): GatehouseError {
  return ERRORS.GH_RECORD_TOO_LARGE({ what, limit }, { hint: 'shorten it; the record format limits it' });
}

/** Measure a record (and check the format's field limits) into `out`. */
export function measureRecord(rec: AppendRecord, out: RecordSize): void {
  const topic = Buffer.byteLength(rec.topic);
  if (topic > 0xffff) throw tooLarge('topic', '65535 bytes');
  const payload = rec.payload.length;
  if (payload >= U32) throw tooLarge('payload', '4 GiB');
  let bytes = topic + payload;
  let encoded = REC_FIXED + topic + payload;
  if (rec.key !== undefined) {
    const k = Buffer.byteLength(rec.key);
    if (k > 0xffff) throw tooLarge('key', '65535 bytes');
    bytes += k;
    encoded += 2 + k;
  }
  if (rec.attrs !== undefined) {
    let n = 0;
    encoded += 2;
    for (const name in rec.attrs) {
      const kb = Buffer.byteLength(name);
      const vb = Buffer.byteLength(rec.attrs[name] as string);
      if (kb > 0xffff) throw tooLarge('attribute name', '65535 bytes');
      bytes += kb + vb;
      encoded += 6 + kb + vb;
      n++;
    }
    if (n > 0xffff) throw tooLarge('attribute count', '65535');
  }
  out.bytes = bytes;
  out.encoded = encoded;
}

/** Encode records[from..] into one segment value of exactly SEG_HEADER + encodedBytes bytes. */
export function encodeSegment(records: AppendRecord[], from: number, encodedBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(SEG_HEADER + encodedBytes);
  buf[0] = SEG_MAGIC;
  buf[1] = SEG_VERSION;
  buf.writeUInt32BE(records.length - from, 2);
  let off = SEG_HEADER;
  for (let i = from; i < records.length; i++) {
    const rec = records[i] as AppendRecord;
    const hasKey = rec.key !== undefined;
    const hasAttrs = rec.attrs !== undefined;
    const start = off;
    let p = start + REC_FIXED + (hasKey ? 2 : 0) + (hasAttrs ? 2 : 0);
    const topicLen = buf.write(rec.topic, p, 'utf8');
    p += topicLen;
    rec.payload.copy(buf, p);
    p += rec.payload.length;
    buf.writeDoubleBE(rec.receivedAt, start);
    buf[start + 8] = (hasKey ? FLAG_KEY : 0) | (hasAttrs ? FLAG_ATTRS : 0);
    buf.writeUInt16BE(topicLen, start + 9);
    buf.writeUInt32BE(rec.payload.length, start + 11);
    let h = start + REC_FIXED;
    if (hasKey) {
      const kl = buf.write(rec.key as string, p, 'utf8');
      p += kl;
      buf.writeUInt16BE(kl, h);
      h += 2;
    }
    if (hasAttrs) {
      const attrs = rec.attrs as Record<string, string>;
      let n = 0;
      for (const name in attrs) {
        const kl = buf.write(name, p + 6, 'utf8');
        const vl = buf.write(attrs[name] as string, p + 6 + kl, 'utf8');
        buf.writeUInt16BE(kl, p);
        buf.writeUInt32BE(vl, p + 2);
        p += 6 + kl + vl;
        n++;
      }
      buf.writeUInt16BE(n, h);
    }
    off = p;
  }
  if (off !== buf.length) throw new GatehouseError('GH_INTERNAL', `segment encoding size mismatch (${off} != ${buf.length})`);
  return buf;
}

function corrupt(why: string): GatehouseError {
  return ERRORS.GH_STORE_CORRUPT({ what: 'a stream segment', reason: `it does not decode: ${why}` });
}

/** Record count of a segment value after checking its header. */
export function segmentCount(value: Buffer): number {
  if (value.length < SEG_HEADER || value[0] !== SEG_MAGIC || value[1] !== SEG_VERSION) throw corrupt('bad header');
  return value.readUInt32BE(2);
}

/**
 * Walk one record starting at `off`; returns the offset after it. When `out` is given the record
 * is materialised (payload is a zero-copy view of the value). `out.bytes` gets its accounted size.
 */
function walkRecord(value: Buffer, off: number, out: { bytes: number; rec: StoredRecord | undefined }, decode: boolean, stream: string, seq: number): number {
  const end = value.length;
  if (off + REC_FIXED > end) throw corrupt(`record ${seq} truncated`);
  const flags = value[off + 8] as number;
  const topicLen = value.readUInt16BE(off + 9);
  const payloadLen = value.readUInt32BE(off + 11);
  let h = off + REC_FIXED;
  let keyLen = -1;
  let attrCount = -1;
  if (flags & FLAG_KEY) {
    if (h + 2 > end) throw corrupt(`record ${seq} truncated`);
    keyLen = value.readUInt16BE(h);
    h += 2;
  }
  if (flags & FLAG_ATTRS) {
    if (h + 2 > end) throw corrupt(`record ${seq} truncated`);
    attrCount = value.readUInt16BE(h);
    h += 2;
  }
  let p = h;
  const topicAt = p;
  p += topicLen;
  const payloadAt = p;
  p += payloadLen;
  const keyAt = p;
  if (keyLen >= 0) p += keyLen;
  if (p > end) throw corrupt(`record ${seq} overruns the segment`);
  let bytes = topicLen + payloadLen + (keyLen > 0 ? keyLen : 0);
  let attrs: Record<string, string> | undefined;
  if (attrCount >= 0) {
    if (decode) attrs = {};
    for (let i = 0; i < attrCount; i++) {
      if (p + 6 > end) throw corrupt(`record ${seq} attributes truncated`);
      const kl = value.readUInt16BE(p);
      const vl = value.readUInt32BE(p + 2);
      if (p + 6 + kl + vl > end) throw corrupt(`record ${seq} attributes overrun the segment`);
      if (attrs) attrs[value.toString('utf8', p + 6, p + 6 + kl)] = value.toString('utf8', p + 6 + kl, p + 6 + kl + vl);
      bytes += kl + vl;
      p += 6 + kl + vl;
    }
  }
  out.bytes = bytes;
  if (decode) {
    const rec: StoredRecord = {
      stream,
      seq,
      topic: value.toString('utf8', topicAt, topicAt + topicLen),
      payload: value.subarray(payloadAt, payloadAt + payloadLen),
      receivedAt: value.readDoubleBE(off),
    };
    if (keyLen >= 0) rec.key = value.toString('utf8', keyAt, keyAt + keyLen);
    if (attrs) rec.attrs = attrs;
    out.rec = rec;
  }
  return p;
}

export interface DecodeLimits {
  /** Max records to add to out. */
  limit: number;
  /** Soft cap on summed payload bytes (at least one record overall). */
  maxBytes: number;
  /** Payload bytes already in out (updated). */
  payloadBytes: number;
}

/** A position inside a segment value: the record with sequence `seq` starts at byte `off`. */
export interface SegmentCursor {
  seq: number;
  off: number;
}

/**
 * Append the segment's records with seq in [fromSeq, toSeq] to out, within limits. Returns true
 * when a limit stopped it. Throws GH_STORE_CORRUPT (without the key: the caller adds it).
 * `cur`, when given, is where a previous decode of this same value stopped: the walk starts there
 * if it is not past fromSeq (sequential reads do not re-walk the records before it), and it is
 * set to the first record not returned.
 */
export function decodeSegment(
  value: Buffer,
  stream: string,
  firstSeq: number,
  fromSeq: number,
  toSeq: number,
  out: StoredRecord[],
  lim: DecodeLimits,
  cur?: SegmentCursor,
): boolean {
  const count = segmentCount(value);
  const walk = { bytes: 0, rec: undefined as StoredRecord | undefined };
  let seq = firstSeq;
  let off = SEG_HEADER;
  if (cur !== undefined && cur.seq > firstSeq && cur.seq <= fromSeq && cur.seq < firstSeq + count) {
    seq = cur.seq;
    off = cur.off;
  }
  const last = Math.min(firstSeq + count - 1, toSeq);
  let stopped = false;
  for (; seq <= last; seq++) {
    const want = seq >= fromSeq;
    if (want && out.length >= lim.limit) {
      stopped = true;
      break;
    }
    const next = walkRecord(value, off, walk, want, stream, seq);
    if (want) {
      const rec = walk.rec as StoredRecord;
      if (out.length > 0 && lim.payloadBytes + rec.payload.length > lim.maxBytes) {
        stopped = true;
        break;
      }
      out.push(rec);
      lim.payloadBytes += rec.payload.length;
    }
    off = next;
  }
  if (cur !== undefined) {
    cur.seq = seq;
    cur.off = off;
  }
  if (!stopped && last === firstSeq + count - 1 && off !== value.length) throw corrupt('trailing bytes');
  return stopped;
}

/** Summed accounted bytes of the segment's first n records (partial reclaim accounting). */
export function prefixBytes(value: Buffer, n: number): number {
  const count = segmentCount(value);
  const walk = { bytes: 0, rec: undefined as StoredRecord | undefined };
  let off = SEG_HEADER;
  let sum = 0;
  for (let i = 0; i < Math.min(n, count); i++) {
    off = walkRecord(value, off, walk, false, '', i);
    sum += walk.bytes;
  }
  return sum;
}

/**
 * The offset after the record of a segment value starting at `off`; its accounted bytes in
 * `out.bytes`. Throws GH_STORE_CORRUPT for a record that overruns the value (trim.ts).
 */
export function skipRecord(value: Buffer, off: number, out: { bytes: number }, seq: number): number {
  const walk = { bytes: 0, rec: undefined as StoredRecord | undefined };
  const next = walkRecord(value, off, walk, false, '', seq);
  out.bytes = walk.bytes;
  return next;
}
