// What the MQTT source says about its connection, in logs and status: an untrusted broker
// certificate or a refused CONNECT with its fix, why a connection closed, when the backoff starts
// over. (The URL without its credentials: core/broker-url.ts.)
import { connectRefusal } from '../../../../core/mqtt-client-hints.js';
import { certificateNotVerified } from '../../../../core/tls-files.js';

export const CERTIFICATE_FIX =
  "the broker's certificate is not trusted: set caFile to the CA that issued it (for AWS IoT Core, AmazonRootCA1.pem), or check the broker name in url against the certificate";

export { STABLE_MS } from '../../../../core/mqtt-client-hints.js';

/**
 * What to do about an error of the connection, if there is a fix to give: an untrusted broker
 * certificate, a CONNECT the broker refused (mqtt.js' wording of the CONNACK code, MQTT 3.1.1 and 5).
 */
export function connectFix(message: string, beforeConnack = false): string | undefined {
  if (certificateNotVerified(message)) return CERTIFICATE_FIX;
  if (/connack timeout/i.test(message))
    return 'the server took the connection but sent no CONNACK within connectTimeoutMs: check that url names an MQTT port (mqtts:// for a TLS one such as 8883), or raise connectTimeoutMs for a slow broker';
  if (/wrong version number|packet length too long|EPROTO/i.test(message))
    return "the server does not answer in TLS: use mqtt:// for a plain port, or the broker's TLS port (8883) with mqtts://";
  // mqtt-packet's parse errors: before the CONNACK, what answers is no MQTT broker (an HTTP or a TLS port).
  if (beforeConnack && /invalid header flag bits|malformed|packet too short|cannot parse|invalid (connack|protocol)|not supported/i.test(message))
    return "what answers at url does not speak MQTT (an HTTP or TLS port?): check the URL's scheme and port (mqtts:// for TLS, ws:// or wss:// with the path for a WebSocket listener)";
  // The socket's own failures (mqtt.js passes Node's message on: 'connect ECONNREFUSED 127.0.0.1:1884'):
  // before, the refused port of a mistyped url was shown with no word of what to check.
  if (/ECONNREFUSED/.test(message))
    return 'nothing takes connections at the host and port of url: check them (1883 for mqtt://, 8883 for mqtts://) and that the broker runs; the source retries by itself';
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return "the host name in url does not resolve: check url and the gateway's DNS; the source retries by itself";
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(message))
    return 'the broker at url cannot be reached: check the host in url, the network and its firewall (the broker port must be open to the gateway); the source retries by itself';
  if (!/Connection refused/i.test(message)) return undefined;
  const refused = connectRefusal(message);
  if (refused === 'credentials')
    return "the broker refused this client: check the source's username/password (or certFile/keyFile) and that the broker allows it to connect (its password file, ACL or policy)";
  if (refused === 'clientId') return "the broker refused the client id: check the source's clientId (length, characters the broker allows)";
  if (refused === 'protocolVersion') return 'the broker does not speak this MQTT version: set protocolVersion to one it supports (4 = 3.1.1, 5)';
  return undefined;
}

/** Why a connection that was up has closed, as far as the broker said (`reason`: its MQTT 5 DISCONNECT reason code). */
export function closedMessage(target: string, reason: number | undefined): string {
  const why =
    reason === 0x8e
      ? 'session taken over: another client connected with this clientId; give each gateway its own clientId'
      : reason !== undefined
        ? `DISCONNECT reason 0x${reason.toString(16)}`
        : 'no reason given: another client with this clientId, a broker restart, or a packet it refused';
  return `${target} closed the connection (${why}); reconnecting`;
}
