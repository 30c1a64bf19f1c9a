// Options of the site's HTTP(S) proxy: the config's top-level `network.proxy` (every HTTP-based
// destination: kinesis, firehose, s3, http, webhook; the MQTT connections: mqtt-tunnel.ts; the NATS
// connections: destinations/nats-transport.ts) and each such
// destination's (source's, control channel's) own `proxy` (false: direct; a URL: that proxy). Resolution (which proxy a destination's endpoint goes through) is proxy.ts's.
import { z } from '../../core/zod.js';

/** A proxy URL: http:// (or https:// for a proxy spoken to over TLS), host and port, user:password optional. */
const proxyUrl = () =>
  z.url({
    protocol: /^https?$/,
    error: 'must be an http:// (or https://) proxy URL, e.g. http://proxy.plant.local:3128 or http://user:password@proxy:3128',
  });

export const networkOptionsSchema = z
  .strictObject({
    proxy: z
      .strictObject({
        url: proxyUrl()
          .optional()
          .describe(
            'The proxy the HTTP-based destinations (kinesis, firehose, s3, http, webhook), the MQTT connections (the mqtt destination, MQTT sources, the control channel) and the NATS destinations go through: http://host:port (CONNECT tunnels for https endpoints and every MQTT and NATS connection, absolute requests for http ones), user:password@ allowed. Default: the environment, as curl reads it (https_proxy/HTTPS_PROXY for https endpoints, mqtts/wss brokers and NATS over TLS, http_proxy/HTTP_PROXY for http ones, mqtt/ws brokers and plain NATS, else ALL_PROXY); none set: direct.',
          ),
        username: z.string().min(1).optional().describe("The proxy's user (Basic authentication), in place of one in the url."),
        passwordFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            "File holding the proxy user's password (its first line; relative to the config file, read at start), in place of one in the url: keeps it out of the config file and of the process environment. Never logged or shown in status.",
          ),
        noProxy: z
          .array(z.string().min(1))
          .optional()
          .describe(
            "Endpoints reached directly, as curl's NO_PROXY: a host name (example.com matches it and its subdomains; .example.com only subdomains), an IP address, host:port, or * for all. Default: the environment's no_proxy/NO_PROXY (comma-separated).",
          ),
      })
      .prefault({})
      .describe(
        "The site's HTTP(S) proxy for the upstream destinations (NATS included), the MQTT sources and the control channel (docs/upstream.md#through-a-proxy).",
      ),
  })
  .describe('Network settings of the gateway.');

export type NetworkOptions = z.output<typeof networkOptionsSchema>;
export type NetworkProxyOptions = NetworkOptions['proxy'];

/** A destination's `proxy` option (kinesis, firehose, s3, http, webhook, mqtt, nats); an MQTT source's and the control channel's too. */
export const destinationProxyOption = () =>
  z
    .union([z.literal(false), proxyUrl()])
    .optional()
    .describe(
      "This destination's proxy: false sends it directly (whatever network.proxy and the environment say), a URL sends it through that proxy (user:password@ allowed, no noProxy check). Default: the gateway's network.proxy, or the environment.",
    );
