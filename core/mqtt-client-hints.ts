// What the gateway's MQTT clients (the MQTT source, the MQTT bridge destination) read from their
// connection: which CONNECT refusal mqtt.js reports, and when the reconnect backoff starts over.
// Each client words its own fix (it names its own options); the reading is one.

/** A connection up this long resets the reconnect backoff: one dropped at once backs off. */
export const STABLE_MS = 10_000;

/** What a CONNACK refusal (mqtt.js' wording, MQTT 3.1.1 and 5) is about, if it is one a user can fix. */
export type ConnectRefusal = 'credentials' | 'clientId' | 'protocolVersion';

export function connectRefusal(message: string | undefined): ConnectRefusal | undefined {
  if (message === undefined) return undefined;
  if (/not authori[sz]ed|bad user ?name|password|banned|authentication/i.test(message)) return 'credentials';
  if (/identifier|client ?id/i.test(message)) return 'clientId';
  if (/protocol version/i.test(message)) return 'protocolVersion';
  return undefined;
}
