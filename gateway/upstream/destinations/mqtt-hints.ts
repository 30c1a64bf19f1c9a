// What the MQTT bridge destination says about its connection (mqtt.ts): why the broker closed an
// accepted connection, what to check for a connection that fails, and its two time bounds.
import { connectRefusal } from '../../../core/mqtt-client-hints.js';
import { networkHint } from './common.js';

export { STABLE_MS } from '../../../core/mqtt-client-hints.js';

/** Longest wait at stop() for the broker's answers to publishes in flight. */
export const STOP_GRACE_MS = 2000;

/** Why the broker closed an accepted connection (`reason`: its MQTT 5 DISCONNECT reason code). */
export function closedReason(reason: number | undefined, error: string | undefined): string {
  if (reason === 0x8e) return 'session taken over: another client connected with this clientId (DISCONNECT 0x8E)';
  if (reason !== undefined) return `the broker sent DISCONNECT reason 0x${reason.toString(16)}`;
  return `the broker closed the connection without a reason${error ? ` (${error})` : ''}: another client with this clientId, a broker restart, or a packet it refused`;
}

/** What to check, from the client's last error: a refused CONNACK names the credentials or the client id. */
export function connectHint(why: string | undefined): string {
  const tail = '; the bridge keeps reconnecting';
  const refused = connectRefusal(why);
  if (refused === 'credentials')
    return `the broker refused the credentials: check the destination's username/password or client certificate (certFile/keyFile) and the broker's ACL${tail}`;
  if (why !== undefined && /another client/.test(why))
    return `give each gateway its own clientId (a second gateway with this config, a cloned SD card), else check the broker's log for why it closed the connection${tail}`;
  if (refused === 'clientId') return `the broker refused the client id: check the destination's clientId${tail}`;
  const net = networkHint(why, { ca: 'caFile', address: 'url' });
  if (net) return `${net}${tail}`;
  return `check the broker URL and network${tail}`;
}

/** The reason label of a send refused while not connected: a CONNECT the broker refused for its credentials, else the network. */
export function notConnectedReason(why: string | undefined): 'auth' | 'network' {
  return connectRefusal(why) === 'credentials' ? 'auth' : 'network';
}
