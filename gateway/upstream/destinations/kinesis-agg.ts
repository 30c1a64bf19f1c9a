// KPL-compatible record aggregation for the kinesis destination (written by hand: the
// aws-kinesis-agg package is not a dependency). The documented KPL aggregated record format:
//
//   4-byte magic F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16 bytes)
//
//   message AggregatedRecord { repeated string partition_key_table = 1;
//                              repeated string explicit_hash_key_table = 2;
//                              repeated Record records = 3; }
//   message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//                    required bytes data = 3; repeated Tag tags = 4; }
//
// Consumers de-aggregate with the KCL or the aws-kinesis-agg libraries (any language); a record
// without the magic is a plain record, so mixing both is fine.
//
// Grouping: records are aggregated per partition key (in batch order), and each aggregate is put
// with that key. A device's records therefore stay on one shard and in order, exactly as without
// aggregation; a batch with many records per device packs them into few Kinesis records, so the
// shard's 1,000 records/s limit stops being the bottleneck (1 MiB/s still holds).
import { createHash } from 'node:crypto';

export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const MD5_BYTES = 16;
/** KPL's default AggregationMaxSize: small aggregates keep retries and consumer batches cheap. */
export const DEFAULT_AGGREGATE_MAX_BYTES = 51_200;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Encoded size of one Record message (partition key index + data; no hash key, no tags). */
function recordMessageBytes(keyIndex: number, dataLength: number): number {
  return 1 + varintLength(keyIndex) + 1 + varintLength(dataLength) + dataLength;
}

/** Bytes one user record adds to an aggregate (the records field wrapping its Record message). */
export function aggregatedEntryBytes(keyIndex: number, dataLength: number): number {
  const m = recordMessageBytes(keyIndex, dataLength);
  return 1 + varintLength(m) + m;
}

/** Bytes a partition key adds to the partition_key_table. */
export function keyTableEntryBytes(key: string): number {
  const n = Buffer.byteLength(key);
  return 1 + varintLength(n) + n;
}

/** Fixed overhead of an aggregated record around its protobuf (magic + MD5). */
export const AGGREGATE_OVERHEAD_BYTES = KPL_MAGIC.length + MD5_BYTES;

/**
 * Encode user records into one KPL aggregated record. `keyIndex` points into `partitionKeys`.
 * One allocation for the result; the protobuf is written in place.
 */
export function encodeAggregatedRecord(partitionKeys: readonly string[], records: ReadonlyArray<{ keyIndex: number; data: Buffer }>): Buffer {
  let pbBytes = 0;
  for (const k of partitionKeys) pbBytes += keyTableEntryBytes(k);
  for (const r of records) pbBytes += aggregatedEntryBytes(r.keyIndex, r.data.length);
  const out = Buffer.allocUnsafe(KPL_MAGIC.length + pbBytes + MD5_BYTES);
  KPL_MAGIC.copy(out, 0);
  let pos = KPL_MAGIC.length;
  for (const k of partitionKeys) {
    out[pos++] = 0x0a; // field 1, length-delimited
    const n = Buffer.byteLength(k);
    pos = writeVarint(out, pos, n);
    pos += out.write(k, pos, 'utf8');
  }
  for (const r of records) {
    out[pos++] = 0x1a; // field 3, length-delimited
    pos = writeVarint(out, pos, recordMessageBytes(r.keyIndex, r.data.length));
    out[pos++] = 0x08; // Record.partition_key_index, varint
    pos = writeVarint(out, pos, r.keyIndex);
    out[pos++] = 0x1a; // Record.data, length-delimited
    pos = writeVarint(out, pos, r.data.length);
    pos += r.data.copy(out, pos);
  }
  createHash('md5').update(out.subarray(KPL_MAGIC.length, pos)).digest().copy(out, pos);
  return out;
}

export interface UserRecord {
  partitionKey: string;
  explicitHashKey?: string;
  data: Buffer;
}

/** True when the bytes carry the KPL magic and a matching MD5 (else: a plain record). */
export function isAggregated(buf: Buffer): boolean {
  if (buf.length < AGGREGATE_OVERHEAD_BYTES || !buf.subarray(0, 4).equals(KPL_MAGIC)) return false;
  const pb = buf.subarray(4, buf.length - MD5_BYTES);
  return createHash('md5')
    .update(pb)
    .digest()
    .equals(buf.subarray(buf.length - MD5_BYTES));
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint in KPL aggregated record');
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('varint too long in KPL aggregated record');
    }
  }
  bytes(): Buffer {
    const n = this.varint();
    if (this.pos + n > this.end) throw new Error('truncated field in KPL aggregated record');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire} in KPL aggregated record`);
  }
}

/**
 * De-aggregate one Kinesis record: the user records of a KPL aggregate, or the record itself when
 * it is not aggregated. Throws on a corrupt aggregate (bad protobuf, index out of range).
 */
export function deaggregate(data: Buffer, partitionKey: string): UserRecord[] {
  if (!isAggregated(data)) return [{ partitionKey, data }];
  const r = new Reader(data, 4, data.length - MD5_BYTES);
  const keys: string[] = [];
  const hashKeys: string[] = [];
  const raw: Array<{ k: number; h: number | undefined; data: Buffer }> = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) keys.push(r.bytes().toString('utf8'));
    else if (field === 2 && wire === 2) hashKeys.push(r.bytes().toString('utf8'));
    else if (field === 3 && wire === 2) {
      const m = r.bytes();
      const mr = new Reader(m, 0, m.length);
      let k = -1;
      let h: number | undefined;
      let d: Buffer | undefined;
      while (mr.pos < mr.end) {
        const t = mr.varint();
        const f = Math.floor(t / 8);
        const w = t & 7;
        if (f === 1 && w === 0) k = mr.varint();
        else if (f === 2 && w === 0) h = mr.varint();
        else if (f === 3 && w === 2) d = mr.bytes();
        else mr.skip(w); // tags (field 4) and unknown fields
      }
      if (k < 0 || d === undefined) throw new Error('KPL aggregated record: a Record lacks partition_key_index or data');
      raw.push({ k, h, data: d });
    } else r.skip(wire);
  }
  return raw.map((x) => {
    const pk = keys[x.k];
    if (pk === undefined) throw new Error(`KPL aggregated record: partition_key_index ${x.k} out of range`);
    const u: UserRecord = { partitionKey: pk, data: x.data };
    if (x.h !== undefined) {
      const hk = hashKeys[x.h];
      if (hk === undefined) throw new Error(`KPL aggregated record: explicit_hash_key_index ${x.h} out of range`);
      u.explicitHashKey = hk;
    }
    return u;
  });
}

/** One Kinesis record to put: an aggregate of `members` (indexes into the batch) or one plain record. */
export interface KinesisUnit {
  key: string;
  data: Buffer;
  members: number[];
}

/**
 * Group a batch into Kinesis records: per partition key, in batch order, packed up to maxBytes
 * (data + key, as Kinesis counts). A group of one, or a record too big to share, stays plain.
 */
export function aggregateBatch(payloads: readonly Buffer[], keys: readonly string[], maxBytes: number): KinesisUnit[] {
  const units: KinesisUnit[] = [];
  // Open group per key: member indexes and the aggregate's size so far.
  const open = new Map<string, { members: number[]; bytes: number }>();
  const close = (key: string, g: { members: number[] }): void => {
    if (g.members.length === 1) {
      units.push({ key, data: payloads[g.members[0]!]!, members: g.members });
      return;
    }
    const recs = g.members.map((i) => ({ keyIndex: 0, data: payloads[i]! }));
    units.push({ key, data: encodeAggregatedRecord([key], recs), members: g.members });
  };
  for (let i = 0; i < payloads.length; i++) {
    const key = keys[i]!;
    const add = aggregatedEntryBytes(0, payloads[i]!.length);
    let g = open.get(key);
    if (g && g.bytes + add > maxBytes) {
      close(key, g);
      open.delete(key);
      g = undefined;
    }
    if (!g) {
      g = { members: [], bytes: Buffer.byteLength(key) + AGGREGATE_OVERHEAD_BYTES + keyTableEntryBytes(key) };
      open.set(key, g);
    }
    g.members.push(i);
    g.bytes += add;
  }
  for (const [key, g] of open) close(key, g);
  return units;
}
