// Which protocol does a new connection speak? The CONNECT packet's protocol level byte tells:
// 5 goes to our MQTT 5 layer, anything else (3.1.1, 3.1, garbage) to aedes exactly as before.
// The bytes read are put back on the socket, so the chosen handler sees the stream untouched.
import type { Socket } from 'node:net';

/** Bytes enough for the fixed header (5), protocol name length (2), name ('MQIsdp', 6) and level (1). */
const MAX_SNIFF = 16;

/**
 * Parse the protocol level from the first bytes of a connection: a number when found, null when
 * the bytes cannot be a CONNECT (let aedes refuse it), undefined when more bytes are needed.
 */
export function protocolLevel(buf: Buffer): number | null | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== 0x10) return null;
  let i = 1;
  for (;;) {
    if (i >= buf.length) return undefined;
    const b = buf[i]!;
    i++;
    if ((b & 0x80) === 0) break;
    if (i > 4) return null;
  }
  if (buf.length < i + 2) return undefined;
  const nameLen = buf.readUInt16BE(i);
  if (nameLen !== 4 && nameLen !== 6) return null;
  const at = i + 2 + nameLen;
  if (buf.length <= at) return undefined;
  return buf[at]!;
}

/**
 * Read the first bytes of a socket until the protocol level is known, put them back and call
 * `route`. A connection that sends nothing is destroyed after timeoutMs (aedes' connect timeout
 * starts only once it has the socket).
 */
export function sniffProtocol(socket: Socket, timeoutMs: number, route: (level: number | null) => void, onTimeout: () => void = () => undefined): void {
  let head: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => {
    onTimeout();
    socket.destroy();
  }, timeoutMs);
  const done = (level: number | null): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.pause();
    socket.unshift(head);
    route(level);
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const level = protocolLevel(head);
    if (level !== undefined) done(level);
    else if (head.length >= MAX_SNIFF) done(null);
  };
  const onClose = (): void => clearTimeout(timer);
  socket.on('data', onData);
  socket.once('close', onClose);
}
