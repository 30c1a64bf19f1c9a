// A broker listener's options (zod): address, TLS, protocol (MQTT or MQTT over WebSockets), its
// own limits; and the name a listener is shown by. Split from options.ts (the broker's whole
// schema, which composes this one).
import { z } from '../../core/zod.js';
import { bindHostSchema } from '../../core/bind-host.js';

const tlsSchema = z
  .strictObject({
    cert: z.string().min(1).describe('Path to the PEM certificate (chain) file of this listener.'),
    key: z.string().min(1).describe('Path to the PEM private key file of this listener.'),
    ca: z.string().min(1).optional().describe('Path to a PEM CA bundle used to verify client certificates (with requestCert).'),
    requestCert: z.boolean().default(false).describe('Require clients to present a certificate signed by `ca` (mutual TLS); unverified clients are refused.'),
    crl: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Path to a PEM file of certificate revocation lists (`openssl ca -gencrl`), one for each CA in `ca` that issues client certificates (with requestCert): a revoked certificate fails the handshake. Read again on SIGHUP (connected clients whose certificate it revokes are disconnected). Past a CRL's nextUpdate OpenSSL refuses every certificate of its CA: renew it before (gatehouse_broker_tls_crl_next_update_timestamp_seconds).",
      ),
    identity: z
      .enum(['none', 'cn', 'subject'])
      .default('none')
      .describe(
        "What a verified client certificate gives the client (with requestCert): none, anonymous unless it sends a user name and password; cn, its subject's common name is its user name (the ACL's %u, acl.users, principal(), clients list), as mosquitto's use_identity_as_username; subject, its whole subject (RFC 2253: 'CN=dev1,O=Acme'), as use_subject_as_username. With cn or subject the CONNECT's user name and password are ignored and no password is needed; a certificate without a CN is refused (CONNACK 0x05).",
      ),
    clientIdMustMatchIdentity: z
      .boolean()
      .default(false)
      .describe(
        "With identity cn or subject: a CONNECT whose client id is not the certificate's identity is refused (CONNACK 0x02; MQTT 5: 0x85), as an AWS IoT policy allowing iot:Connect on client/${iot:Connection.Thing.ThingName}: a device cannot take over another's client id or session.",
      ),
  })
  // without a ca, node verifies client certificates against its public root CAs: a certificate
  // bought from any of them would pass (mosquitto refuses require_certificate without cafile)
  .refine((t) => !t.requestCert || t.ca !== undefined, {
    path: ['requestCert'],
    message: 'needs ca: the CA that issued your client certificates (without it any certificate from a public CA would be accepted)',
  })
  // a CRL and an identity are of client certificates: without requestCert there are none
  .refine((t) => t.requestCert || t.crl === undefined, { path: ['crl'], message: 'needs requestCert: true (a CRL revokes client certificates)' })
  .refine((t) => t.requestCert || t.identity === 'none', { path: ['identity'], message: "needs requestCert: true (the identity is the client certificate's)" })
  .refine((t) => !t.clientIdMustMatchIdentity || t.identity !== 'none', {
    path: ['clientIdMustMatchIdentity'],
    message: "needs identity: cn or subject (the client id is compared with the certificate's identity)",
  })
  .describe('TLS for this listener; omit for plain TCP.');

export const listenerSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe('Name shown in clients() and metrics; default "mqtt" / "mqtts" / "ws" / "wss" (with an index when repeated).'),
    host: bindHostSchema(
      '127.0.0.1',
      "Address to bind: IPv4 or IPv6 ('::1', 'fd00::2'; '::' is every address of both families), or a host name. Anything other than loopback needs users (allowAnonymous: false) or mutual TLS.",
    ),
    port: z.number().int().min(0).max(65535).default(1883).describe('TCP port; 0 picks a free port (tests).'),
    tls: tlsSchema.optional(),
    protocol: z
      .enum(['mqtt', 'websockets'])
      .default('mqtt')
      .describe(
        "mqtt: MQTT over TCP, or TLS with `tls`. websockets: MQTT over WebSockets (mosquitto's `protocol websockets`) for browser pages, MQTT.js in a page, Node-RED dashboards, MQTTX's web client: ws://host:port, or wss:// with `tls`; sub-protocol mqtt (or mqttv3.1), binary frames; a request that is not a WebSocket upgrade is answered 426 (docs/broker.md, WebSockets). The same users, ACL, limits and MQTT 3.1.1/5 as on the TCP listeners.",
      ),
    path: z
      .string()
      .regex(/^\/[^?#\s]*$/, { message: "a URL path: starts with '/', no query, fragment or spaces (e.g. '/mqtt')" })
      .optional()
      .describe(
        "With protocol websockets: the only URL path upgraded (e.g. '/mqtt', MQTT.js's and Paho's default); any other path is answered 404. Default: every path, as mosquitto (clients differ: '/mqtt', '/ws', '/').",
      ),
    origins: z
      .array(
        z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, {
          message: "an origin as a browser sends it ('https://hmi.plant.local', 'http://10.0.0.5:8080', no path) or '*'",
        }),
      )
      .optional()
      .describe(
        "With protocol websockets: the web origins whose pages may connect (the Origin header browsers send; '*' any). Default: any while broker.allowAnonymous is false (every client authenticates), none while anonymous clients are allowed (any web page open in a browser that reaches the listener could publish and subscribe as anonymous). Clients that send no Origin (MQTT.js in Node, devices, tools) are not concerned. A refused page gets 403.",
      ),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        "Connected clients on this listener beyond this get CONNACK 0x03 (MQTT 5: 0x88 Server unavailable), counted in gatehouse_mqtt_listener_connections_refused_total{listener}. Default: none of its own, broker.maxConnections bounds all listeners together. E.g. cap a LAN listener below broker.maxConnections so that a flood of devices there leaves room for local apps on a loopback listener (mosquitto's per-listener max_connections).",
      ),
  })
  // a path is of a WebSocket URL: on an MQTT listener it would say something that does not happen
  .refine((l) => l.protocol === 'websockets' || l.path === undefined, {
    path: ['path'],
    message: "needs protocol: websockets (a path is the WebSocket URL's)",
  })
  .refine((l) => l.protocol === 'websockets' || l.origins === undefined, {
    path: ['origins'],
    message: "needs protocol: websockets (origins are those of browsers' pages)",
  });

export type ListenerOptions = z.infer<typeof listenerSchema>;

/** Name of listener i as shown in clients()/addresses(): default mqtt, mqtts, ws or wss (with an index when repeated). */
export function listenerName(listeners: readonly ListenerOptions[], i: number): string {
  const l = listeners[i]!;
  if (l.name) return l.name;
  const ws = l.protocol === 'websockets';
  const base = ws ? (l.tls ? 'wss' : 'ws') : l.tls ? 'mqtts' : 'mqtt';
  const alike = (x: ListenerOptions): boolean => !x.name && !!x.tls === !!l.tls && (x.protocol === 'websockets') === ws;
  const same = listeners.filter(alike).length;
  if (same === 1) return base;
  return `${base}-${listeners.slice(0, i).filter(alike).length}`;
}
