// Protocol strictness the parser (mqtt-packet) does not enforce:
//
// - Every MQTT UTF-8 string (client id, user name, will topic, PUBLISH topic, SUBSCRIBE and
//   UNSUBSCRIBE filters) must be well-formed UTF-8 without U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2].
//   mqtt-packet decodes with Buffer.toString, which replaces bad bytes with U+FFFD: a topic
//   `a/\xff\xfe` was stored as `a/\ufffd\ufffd`. Here the raw bytes are checked before decoding
//   and a bad string is a protocol error: the connection closes, nothing is acknowledged.
// - A CONNECT with a protocol level the broker does not speak gets CONNACK 0x01 (unacceptable
//   protocol version) before the close [MQTT-3.1.2-2]; mqtt-packet refuses such levels itself
//   (before aedes sees the CONNECT), so the CONNACK is written here.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';

/** The parts of mqtt-packet's parser patched here (not in its typings). */
export interface StrictParserInternals {
  _list: { length: number; slice(start: number, end: number): Buffer; readUInt16BE(offset: number): number };
  _pos: number;
  packet: { length: number };
  error: (Error & { strict?: boolean }) | null;
  _parseString(maybeBuffer?: boolean): string | null;
  _emitError(err: Error): void;
}

export type StrictViolation = 'utf8' | 'nul' | 'protocol-level';

/** The CONNACK for "unacceptable protocol version" (v3.1.1 encoding, understood by 3.1 clients). */
export const CONNACK_BAD_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01]);

/** Why the raw bytes of an MQTT string are not acceptable, or undefined when they are. */
export function stringViolation(bytes: Buffer): 'utf8' | 'nul' | undefined {
  if (bytes.indexOf(0) !== -1) return 'nul';
  if (!isUtf8(bytes)) return 'utf8';
  return undefined;
}

export function makeParserStrict(parser: StrictParserInternals, socket: Socket, onViolation: (v: StrictViolation) => void): void {
  const parseString = parser._parseString;
  parser._parseString = function parseStringStrict(this: StrictParserInternals, maybeBuffer?: boolean): string | null {
    const pos = this._pos;
    // same bounds as mqtt-packet: a 2-byte length then the bytes, all inside the packet
    if (pos + 2 <= this._list.length) {
      const len = this._list.readUInt16BE(pos);
      const end = pos + 2 + len;
      if (end <= this._list.length && end <= this.packet.length) {
        const v = stringViolation(this._list.slice(pos + 2, end));
        if (v) {
          onViolation(v);
          this._emitError(
            Object.assign(new Error(v === 'nul' ? 'U+0000 in an MQTT string [MQTT-1.5.3-2]' : 'invalid UTF-8 in an MQTT string [MQTT-1.5.3-1]'), {
              strict: true,
            }),
          );
          return null;
        }
      }
    }
    return parseString.call(this, maybeBuffer);
  };
  const emitError = parser._emitError;
  parser._emitError = function emitErrorStrict(this: StrictParserInternals, err: Error): void {
    // the caller of a refused string reports "Cannot parse topic" next: one error is enough
    if (this.error?.strict) return;
    if (err.message === 'Invalid protocol version' && !socket.destroyed) {
      onViolation('protocol-level');
      // written before aedes destroys the socket; a 4-byte write on an idle socket goes out at once
      socket.write(CONNACK_BAD_PROTOCOL);
      (err as Error & { strict?: boolean }).strict = true;
    }
    emitError.call(this, err);
  };
}
