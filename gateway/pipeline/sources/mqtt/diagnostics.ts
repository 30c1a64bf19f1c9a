// What the MQTT source says about its connection, in logs and status: an untrusted broker
// certificate with its fix, why a connection closed, when the backoff starts over. (The URL without its credentials:
// core/broker-url.ts.)

export const CERTIFICATE_FIX =
  "the broker's certificate is not trusted: set caFile to the CA that issued it (for AWS IoT Core, AmazonRootCA1.pem), or check the broker name in url against the certificate";

/** A TLS verification failure of the broker's certificate (Node's and OpenSSL's wording). */
export function certificateTrouble(message: string): boolean {
  return /self[- ]signed certificate|unable to (get|verify) (local )?issuer|certificate has expired|Hostname\/IP does not match|CERT_/i.test(message);
}

/** A connection up this long resets the reconnect backoff (as the MQTT bridge destination's). */
export const STABLE_MS = 10_000;

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
