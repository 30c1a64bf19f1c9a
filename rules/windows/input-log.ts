// The input log of stateful rules (windows, detectors): every message that reaches the state of a
// stateful rule is appended to one durable log in the same group commit that gates its
// acknowledgement, so state lost in a crash (everything since the last checkpoint) is rebuilt at
// start by replaying the log behind each rule's checkpoint. The gateway implements the interface
// over an internal local stream; rules/ only knows this contract and the record format.
//
// Record format (payload of the log record; topic and receivedAt are the message's own):
//   u8 version (1) | f64 input number | f64 processing time | u8 qos | u8 flags (retain)
//   | u8 source kind | u8 hops | 4 x (u16 length, 0xffff = absent, utf8): source id, ip,
//   principal, traceId | u32 properties JSON length (0 = none) | properties JSON | message payload
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { Message, MessageProperties, SourceKind } from '../../core/message.js';

/** One logged input of the stateful rules. */
export interface LoggedInput {
  /** Input number: increases by one per logged message, never repeats (survives restarts). */
  no: number;
  /** Processing time the engine used for it (processing-time windows replay with it). */
  at: number;
  message: Message;
}

/** A log record as the store holds it. */
export interface InputLogRecord {
  seq: number;
  topic: string;
  payload: Buffer;
  receivedAt: number;
}

/** What the engine needs of the durable log and the store's meta area (the gateway's adapter). */
export interface InputLog {
  /** Append; resolves with the record's sequence once committed (the ack waits for it). */
  append(topic: string, payload: Buffer, receivedAt: number): Promise<number>;
  /** Records with seq >= fromSeq, in order, at most `limit`. */
  read(fromSeq: number, limit: number): Promise<InputLogRecord[]>;
  /** Everything up to this sequence is covered by durable checkpoints (0 = none). */
  released(): Promise<number>;
  /** Records up to seq are no longer needed: reclaim them. */
  release(seq: number): Promise<void>;
  /**
   * Durable meta write in the group commit, after every append submitted before it (store
   * `commitMeta`): a checkpoint is never on disk without the inputs and rows it covers.
   */
  commitMeta(key: string, value: Buffer): Promise<void>;
  getMeta(key: string): Promise<Buffer | undefined>;
  /**
   * The log's byte bound (ruleState.inputLogMaxBytes), if any: a full log holds acknowledgements
   * back until a checkpoint reclaims it, so the journal asks for one early (InputJournal.onPressure).
   */
  readonly maxBytes?: number;
}

// Appended only: the index is what older logs hold. modbus and opcua were missing before round 36
// (written as index 0 and read back as mqtt: their clientid() became the source's name, not 'n/a');
// a version before them reads their index as internal.
const KINDS: SourceKind[] = ['mqtt', 'serial', 'file', 'internal', 'http', 'modbus', 'opcua'];
const ABSENT = 0xffff;

function strLen(s: string | undefined): number {
  return s === undefined ? 2 : 2 + Buffer.byteLength(s);
}

function writeStr(b: Buffer, off: number, s: string | undefined): number {
  if (s === undefined) {
    b.writeUInt16BE(ABSENT, off);
    return off + 2;
  }
  const n = b.write(s, off + 2, 'utf8');
  b.writeUInt16BE(n, off);
  return off + 2 + n;
}

function propsJson(p: MessageProperties | undefined): Buffer | undefined {
  if (!p) return undefined;
  const plain = p.correlationData ? { ...p, correlationData: p.correlationData.toString('base64') } : p;
  return Buffer.from(JSON.stringify(plain), 'utf8');
}

/** The payload of the log record of one input. */
export function encodeInput(input: LoggedInput): Buffer {
  const m = input.message;
  const s = m.source;
  const props = propsJson(m.properties);
  const head = 1 + 8 + 8 + 1 + 1 + 1 + 1 + strLen(s.id) + strLen(s.ip) + strLen(s.principal) + strLen(m.traceId) + 4 + (props?.length ?? 0);
  const b = Buffer.allocUnsafe(head + m.payload.length);
  b[0] = 1;
  b.writeDoubleBE(input.no, 1);
  b.writeDoubleBE(input.at, 9);
  b[17] = m.qos;
  b[18] = m.retain ? 1 : 0;
  b[19] = Math.max(0, KINDS.indexOf(s.kind));
  b[20] = Math.min(255, m.hops ?? 0);
  let off = 21;
  off = writeStr(b, off, s.id);
  off = writeStr(b, off, s.ip);
  off = writeStr(b, off, s.principal);
  off = writeStr(b, off, m.traceId);
  b.writeUInt32BE(props?.length ?? 0, off);
  off += 4;
  if (props) off += props.copy(b, off);
  m.payload.copy(b, off);
  return b;
}

function corrupt(seq: number, why: string): GatehouseError {
  return ERRORS.GH_STORE_CORRUPT(
    { what: `input log record ${seq} of the stateful rules`, reason: why },
    {
      where: 'rule input log',
      hint: 'the record is skipped (counted in gatehouse_rule_input_replayed_total{result="corrupt"})',
    },
  );
}

/** Decode one log record; throws GH_STORE_CORRUPT on a record this version cannot read. */
export function decodeInput(rec: InputLogRecord): LoggedInput {
  const b = rec.payload;
  if (b.length < 33 || b[0] !== 1) throw corrupt(rec.seq, 'unknown version');
  let off = 21;
  const readStr = (): string | undefined => {
    if (off + 2 > b.length) throw corrupt(rec.seq, 'truncated');
    const n = b.readUInt16BE(off);
    off += 2;
    if (n === ABSENT) return undefined;
    if (off + n > b.length) throw corrupt(rec.seq, 'truncated');
    const s = b.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const id = readStr() ?? '';
  const ip = readStr();
  const principal = readStr();
  const traceId = readStr();
  if (off + 4 > b.length) throw corrupt(rec.seq, 'truncated');
  const pl = b.readUInt32BE(off);
  off += 4;
  if (off + pl > b.length) throw corrupt(rec.seq, 'truncated');
  let properties: MessageProperties | undefined;
  if (pl > 0) {
    try {
      const p = JSON.parse(b.toString('utf8', off, off + pl)) as MessageProperties & { correlationData?: unknown };
      if (typeof p.correlationData === 'string') p.correlationData = Buffer.from(p.correlationData, 'base64');
      properties = p;
    } catch {
      throw corrupt(rec.seq, 'properties');
    }
    off += pl;
  }
  const message: Message = {
    topic: rec.topic,
    payload: b.subarray(off),
    qos: (b[17]! & 3) as 0 | 1 | 2,
    source: { kind: KINDS[b[19]!] ?? 'internal', id },
    receivedAt: rec.receivedAt,
  };
  if (b[18] === 1) message.retain = true;
  if (b[20]) message.hops = b[20];
  if (ip !== undefined) message.source.ip = ip;
  if (principal !== undefined) message.source.principal = principal;
  if (traceId !== undefined) message.traceId = traceId;
  if (properties) message.properties = properties;
  return { no: b.readDoubleBE(1), at: b.readDoubleBE(9), message };
}
