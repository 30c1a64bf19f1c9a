// Acknowledged-mode wire constants (documented in docs/firmware-protocol.md).
//
// Header mode (binary framings: cobs, slip, crc): every frame payload starts with 3 bytes
//   u8 kind, u16 seq (big-endian), then the codec bytes.
//   device -> gateway: KIND_DATA
//   gateway -> device: KIND_ACK / KIND_NAK (no body), KIND_CMD (downlink command, codec body)
// Field mode (line framing): the sequence number is a field of the decoded object ('seq' by
// default, an integer 0..2^53-1); the gateway answers with the text frames "ACK <seq>" / "NAK <seq>".

export const KIND_DATA = 0x44; // 'D'
export const KIND_ACK = 0x06;
export const KIND_NAK = 0x15;
export const KIND_CMD = 0x43; // 'C'
export const HEADER_BYTES = 3;
/** Largest field-mode sequence number: the largest integer a JSON number carries exactly (2^53-1). */
export const MAX_FIELD_SEQ = Number.MAX_SAFE_INTEGER;

export function header(kind: number, seq: number, body?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + (body ? body.length : 0));
  out[0] = kind;
  out.writeUInt16BE(seq & 0xffff, 1);
  if (body) body.copy(out, HEADER_BYTES);
  return out;
}

export function textReply(ok: boolean, seq: number): Buffer {
  return Buffer.from(`${ok ? 'ACK' : 'NAK'} ${seq}`, 'latin1');
}

/** Parse "ACK 12" / "NAK 12"; undefined for anything else. */
export function parseTextReply(frame: Buffer): { ok: boolean; seq: number } | undefined {
  if (frame.length < 5 || frame[3] !== 0x20) return undefined;
  const word = frame.toString('latin1', 0, 3);
  if (word !== 'ACK' && word !== 'NAK') return undefined;
  const seq = Number(frame.toString('latin1', 4));
  return Number.isInteger(seq) ? { ok: word === 'ACK', seq } : undefined;
}
