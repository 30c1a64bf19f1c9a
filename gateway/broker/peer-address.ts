// The address of a client's socket, as the broker logs, lists, bans and hands to rules
// (sourceip()). A listener on `::` (dual stack) sees an IPv4 client as `::ffff:192.0.2.7`, one on
// 0.0.0.0 as `192.0.2.7`: the same device had two addresses, so a ban taken on one listener did not
// hold on the other (an address banned on 127.0.0.1:1884 got maxFailures more password checks on
// [::]:1883), `sourceip() = '192.0.2.7'` missed it, and the clients list showed either. One form:
// an IPv4-mapped IPv6 address is given as its IPv4 address (as mosquitto and EMQX log it).
import type { Socket } from 'node:net';

const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** An address as the broker knows it: `::ffff:a.b.c.d` -> `a.b.c.d`, anything else as it is. */
export function plainAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const m = MAPPED.exec(address);
  return m ? m[1] : address;
}

/** The socket's remote address in that one form. */
export function peerAddress(socket: Pick<Socket, 'remoteAddress'>): string | undefined {
  return plainAddress(socket.remoteAddress);
}
