// The limits every HTTP server of the gateway has (gateway/http/server.ts, and the broker's
// WebSocket listeners' upgrade parsing, gateway/broker/websocket.ts): here, in core, so both use
// one set without the broker depending on gateway/http (which depends on the broker's TLS reload).

/** The timeouts and header cap of every server (node's own defaults are minutes, checked every 30 s). */
export const HTTP_SERVER_LIMITS = { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024, connectionsCheckingInterval: 1000 } as const;
/**
 * Header fields a request may have; one more is answered 431 and closed. Node's 16 KiB cap
 * (maxHeaderSize) counts only the names' and values' bytes, not ': ' and CRLF: 4,000 fields of 8
 * bytes on the wire (32 KiB) passed it, and node kept about 1,000 of them per request (measured
 * ~123 KiB of heap per connection held, ~16 MiB for an http source's 128 connections). With 100
 * (Apache's LimitRequestFields), ~23 KiB. curl, Telegraf, Fluent Bit and ChirpStack send fewer
 * than 20, a proxy adds a few. Node's maxHeadersCount drops the fields past it without a word (a
 * Content-Encoding past it would leave a gzip body taken as is): refused here instead.
 */
export const MAX_HEADER_FIELDS = 100;
