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
  return `the broker closed the connection without a reason${error ? ` (${error})` : ''}: another client with this clientId, a broker restart, or a packet it refused (a PUBLISH to a topic its ACL or policy does not allow, or over its size limit)`;
}

/** What to check, from the client's last error: a refused CONNACK names the credentials or the client id. */
export function connectHint(why: string | undefined): string {
  const tail = '; the bridge keeps reconnecting';
  const refused = connectRefusal(why);
  if (refused === 'credentials')
    return `the broker refused the credentials: check the destination's username/password or client certificate (certFile/keyFile) and the broker's ACL${tail}`;
  if (why !== undefined && /another client/.test(why))
    return `give each gateway its own clientId (a second gateway with this config, a cloned SD card: \${installationId} in clientId is filled with each gateway's own id, e.g. gw-\${installationId}), else check the broker's log for why it closed the connection${tail}`;
  if (refused === 'clientId') return `the broker refused the client id: check the destination's clientId${tail}`;
  const net = networkHint(why, { ca: 'caFile', address: 'url' });
  if (net) return `${net}${tail}`;
  return `check the broker URL and network${tail}`;
}

/** The reason label of a send refused while not connected: a CONNECT the broker refused for its credentials, else the network. */
export function notConnectedReason(why: string | undefined): 'auth' | 'network' {
  return connectRefusal(why) === 'credentials' ? 'auth' : 'network';
}

/**
 * The error of a record whose send the broker cut off before any PUBACK (CUT_OFF): a broker that
 * cannot refuse a PUBLISH closes the connection on one it does not allow (AWS IoT Core, Gatehouse;
 * MQTT 3.1.1 has no refusal) or on one over its packet size limit, and says why in its log at most
 * (`reason`: the code of its MQTT 5 DISCONNECT, when it sent one).
 */
export function cutOffError(records: number, topic: string, reason: number | undefined, clientId: string): string {
  const said = reason === undefined ? '' : `, with DISCONNECT reason 0x${reason.toString(16)}`;
  return `the broker closed the connection before any PUBACK of this send (${records} records; this one to '${topic}'${said}): a broker drops a client whose PUBLISH its policy or ACL does not allow (AWS IoT Core, Gatehouse: check that client '${clientId}' may publish to the topic, and the broker's log) or whose PUBLISH exceeds its packet size limit (if one record keeps doing this alone, set the destination's maxRecordBytes below that limit)`;
}
