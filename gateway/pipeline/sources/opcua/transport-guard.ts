// Guards around node-opcua's client transport (the second, unbracketEndpointHosts: IPv6 endpoint
// hosts, below). ClientTCP_transport._on_socket_data (node-opcua-transport 2.182) feeds the
// socket's bytes to its packet assembler inside the socket's 'data' handler, so what is thrown
// there is an uncaught exception: the gateway stops. The assembler throws for a server that sends
// its ACK and, in the same TCP segment, a chunk whose header says more than the receive buffer or
// less than a header: the ACK installs a new assembler and removes the old one's listeners, and the
// old one, going on with the rest of the segment, emits 'error' with no listener (found by fuzzing
// the source with a server answering damaged messages). The guard ends that connection the way the
// assembler's own errors do (premature termination: the connect or the session fails with the
// error, the source retries), and the process goes on.
//
// The transport is the copy node-opcua-client itself loads (resolved from its folder). With a
// node-opcua whose transport differs (no such method), nothing is guarded.
import { createRequire } from 'node:module';

const GUARDED = Symbol.for('gatehouse.opcua.socket-data-guard');

interface TransportLike {
  prematureTerminate?(err: Error, statusCode: unknown): void;
  _socket?: { destroy(err?: Error): void } | null;
}

interface TransportPrototype {
  _on_socket_data?: (this: TransportLike, data: Buffer) => void;
  [GUARDED]?: true;
}

/** Install the guard once per process; `statusCode`: what the connection ends with (BadTcpInternalError). True when it is in place. */
export function guardSocketData(statusCode: unknown): boolean {
  let proto: TransportPrototype | undefined;
  try {
    const requireFromClient = createRequire(import.meta.resolve('node-opcua-client'));
    proto = (requireFromClient('node-opcua-transport') as { ClientTCP_transport?: { prototype: TransportPrototype } }).ClientTCP_transport?.prototype;
  } catch {
    return false;
  }
  const original = proto?._on_socket_data;
  if (!proto || typeof original !== 'function') return false;
  if (proto[GUARDED]) return true;
  proto._on_socket_data = function guarded(this: TransportLike, data: Buffer): void {
    try {
      original.call(this, data);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (typeof this.prematureTerminate === 'function') this.prematureTerminate(e, statusCode);
      else this._socket?.destroy(e);
    }
  };
  proto[GUARDED] = true;
  return true;
}

const UNBRACKETED = Symbol.for('gatehouse.opcua.endpoint-host');

type ParseEndpointUrl = ((url: string) => { hostname: string }) & { [UNBRACKETED]?: true };

/**
 * node-opcua-transport 2.182's parseEndpointUrl takes the host from WHATWG URL, whose hostname
 * keeps an IPv6 address's brackets: `opc.tcp://[fd00::10]:4840` was dialled as the name
 * '[fd00::10]' (getaddrinfo ENOTFOUND), so no server could be reached by its IPv6 address. The
 * brackets are taken off its answer (what Node's url.parse, which it used before, gave). Every
 * caller (the client's socket, reverse connect) uses the host to dial or listen. Installed once
 * per process, in the copy node-opcua-client loads; true when in place.
 */
export function unbracketEndpointHosts(): boolean {
  let tools: { parseEndpointUrl?: ParseEndpointUrl };
  try {
    const requireFromClient = createRequire(import.meta.resolve('node-opcua-client'));
    // tools.js beside the package's entry (a relative require: the package's exports map lists no such path)
    tools = createRequire(requireFromClient.resolve('node-opcua-transport'))('./tools.js') as typeof tools;
  } catch {
    return false;
  }
  const original = tools.parseEndpointUrl;
  if (typeof original !== 'function') return false;
  if (original[UNBRACKETED]) return true;
  const unbracketed: ParseEndpointUrl = (url) => {
    const ep = original(url);
    const h = ep.hostname;
    return typeof h === 'string' && h.startsWith('[') && h.endsWith(']') ? { ...ep, hostname: h.slice(1, -1) } : ep;
  };
  unbracketed[UNBRACKETED] = true;
  tools.parseEndpointUrl = unbracketed;
  return true;
}
