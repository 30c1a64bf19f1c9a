// The agents that send a destination's requests through the site's proxy (TooTallNate's
// https-proxy-agent: a CONNECT tunnel for https endpoints; http-proxy-agent: absolute-form requests
// for http ones, as curl does), and the proxy's faults turned into GH_UPSTREAM_PROXY errors a user
// can act on. The agent packages are imported when a destination with a proxy route starts: a
// gateway without a proxy does not load them.
//
// https-proxy-agent answers a CONNECT the proxy refused (407, 403) by replaying the proxy's answer
// as if the endpoint had given it: an AWS client then sees a 403 and blames its own credentials,
// or a 407 it takes for a bad request (dead-lettering every record). The subclass here fails the
// request with a ProxyFault instead, as it does when the proxy is down or hangs up on the CONNECT.
import { urlHost } from '../../core/bind-host.js';
import type http from 'node:http';
import type { Socket } from 'node:net';
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { ProxyRoute } from './proxy.js';

/** unreachable: no connection to the proxy; refused: it answered the CONNECT with another status than 200 (or 407 to a request); closed: it hung up before answering. */
export type ProxyFaultKind = 'unreachable' | 'refused' | 'closed';

/** A fault of the proxy, not of the endpoint: the request never reached it. */
export class ProxyFault extends Error {
  override readonly name = 'ProxyFault';
  constructor(
    readonly kind: ProxyFaultKind,
    /** scheme://host:port of the proxy (no credentials). */
    readonly proxy: string,
    /** host:port the tunnel was for. */
    readonly target: string,
    readonly why: string,
    readonly status?: number,
  ) {
    super(
      `proxy ${proxy} ${kind === 'refused' ? `refused ${target}: ${why}` : kind === 'closed' ? `closed the connection for ${target}: ${why}` : `unreachable: ${why}`}`,
    );
  }
}

/** A ProxyFault in `err` or its causes (the SDK and node wrap errors), if any. */
export function findProxyFault(err: unknown): ProxyFault | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof ProxyFault) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A connection cut under a request (after the proxy took it): reset, hung up, a broken pipe. */
const CUT = /ended before|socket hang up|ECONNRESET|EPIPE/i;

/**
 * The proxy's fault in `err` of a request sent through `proxy` to `target`: a ProxyFault from the
 * agent, or the connection cut under the request (the gateway's connection is the proxy's: the
 * proxy or the endpoint behind it hung up); undefined for anything else (a certificate, a timeout).
 */
export function proxyFaultOf(err: unknown, proxy: string, target: string): ProxyFault | undefined {
  const found = findProxyFault(err);
  if (found) return found;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    const why = `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`;
    if (CUT.test(why)) return new ProxyFault('closed', proxy, target, e.message);
  }
  return undefined;
}

/** The connection to the proxy failed (refused, reset, DNS) or ended before its answer. */
function connectFault(err: unknown, proxy: string, target: string): ProxyFault {
  const why = err instanceof Error ? err.message : String(err);
  const closed = CUT.test(why);
  return new ProxyFault(closed ? 'closed' : 'unreachable', proxy, target, why);
}

export interface ProxyAgentOptions {
  keepAlive: boolean;
  maxSockets?: number;
  /** Private CA of an https endpoint (caFile), used in the TLS handshake through the tunnel. */
  ca?: Buffer | undefined;
  /** Client certificate and key of an https endpoint that wants mutual TLS (the webhook destination's certFile, keyFile). */
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  rejectUnauthorized?: boolean;
  /** At most this long for the proxy's answer to a CONNECT (the caller's request or connection timeout); none: as long as the proxy holds it. */
  connectTimeoutMs?: number | undefined;
  /** The error a tunnel's fault is thrown as (default: the ProxyFault itself); the MQTT over WebSocket connections want GH_UPSTREAM_PROXY. */
  wrapFault?: ((fault: ProxyFault) => Error) | undefined;
}

/** An agent for http endpoints and one for https endpoints, both through `route`'s proxy. */
export async function proxyAgents(route: ProxyRoute, o: ProxyAgentOptions): Promise<{ http: http.Agent; https: http.Agent }> {
  const [{ HttpsProxyAgent }, { HttpProxyAgent }] = await Promise.all([import('https-proxy-agent'), import('http-proxy-agent')]);
  const base = { keepAlive: o.keepAlive, ...(o.maxSockets === undefined ? {} : { maxSockets: o.maxSockets }) };
  const { safe } = route;
  type ConnectOpts = Parameters<InstanceType<typeof HttpsProxyAgent>['connect']>[1];
  // An IPv6 address in brackets, as in the CONNECT line (it read '::1:443').
  const targetOf = (opts: ConnectOpts): string => `${urlHost(String(opts.host).replace(/^\[|\]$/g, ''))}:${opts.port}`;

  const wrap = o.wrapFault ?? ((fault: ProxyFault): Error => fault);
  const endpointTls = {
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert && o.key ? { cert: o.cert, key: o.key } : {}),
    ...(o.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: o.rejectUnauthorized }),
  };

  class TunnelAgent extends HttpsProxyAgent<string> {
    override async connect(req: http.ClientRequest, opts: ConnectOpts): Promise<Socket> {
      let answer: { statusCode: number; statusText: string } | undefined;
      const onConnect = (c: { statusCode: number; statusText: string }): void => {
        answer = c;
      };
      req.once('proxyConnect', onConnect);
      // The package waits for the proxy's answer to the CONNECT with no bound of its own, and a
      // request given up before it has a socket (the http destination's timeoutMs, the SDK's
      // connectionTimeout) says so to nobody: its connection to a proxy that never answers stayed
      // open, one more per retry, each counted in the agent's maxSockets (the http destination sent
      // nothing more after 4). Bounded here by the caller's own timeout: the signal is read by
      // net.connect in the synchronous part of super.connect, so it is set for that call alone.
      // (An https:// proxy's tls.connect takes no signal: there the proxy's own timeout ends it.)
      const giveUp = new AbortController();
      const timer = o.connectTimeoutMs === undefined ? undefined : setTimeout(() => giveUp.abort(), o.connectTimeoutMs);
      let socket: Socket;
      try {
        // The endpoint's TLS options go with the handshake through the tunnel: the package keeps no
        // agent-level options for it (its constructor resets them), and those of its constructor
        // are the proxy connection's (an https:// proxy has a certificate of its own).
        this.connectOpts.signal = giveUp.signal;
        const connecting = super.connect(req, { ...opts, ...endpointTls });
        delete this.connectOpts.signal;
        socket = await connecting;
      } catch (err) {
        const why = giveUp.signal.aborted ? new Error(`no answer to the CONNECT within ${o.connectTimeoutMs} ms`) : err;
        throw wrap(connectFault(why, safe, targetOf(opts)));
      } finally {
        delete this.connectOpts.signal;
        clearTimeout(timer);
        req.off('proxyConnect', onConnect);
      }
      if (answer !== undefined && answer.statusCode !== 200) {
        // The "socket" returned replays the proxy's answer: never handed to the request.
        socket.destroy();
        throw wrap(new ProxyFault('refused', safe, targetOf(opts), `HTTP ${answer.statusCode} ${answer.statusText}`.trim(), answer.statusCode));
      }
      return socket;
    }
  }
  type ForwardRequest = Parameters<InstanceType<typeof HttpProxyAgent>['connect']>[0];
  class ForwardAgent extends HttpProxyAgent<string> {
    override async connect(req: ForwardRequest, opts: ConnectOpts): Promise<Socket> {
      try {
        return await super.connect(req, opts);
      } catch (err) {
        throw connectFault(err, safe, targetOf(opts));
      }
    }
  }
  return { http: new ForwardAgent(route.url.href, base), https: new TunnelAgent(route.url.href, base) };
}

/**
 * GH_UPSTREAM_PROXY for `fault` on the way to `where` (a destination's target), with what to fix.
 * A refusal for credentials (407) or the proxy's rules (403) is the setup's (retried at the normal
 * pace, details.setup); the proxy down or hanging up is an outage (retried as one). `waiting` says
 * what becomes of the data meanwhile (a source's or the control channel's words differ).
 */
export function proxyError(fault: ProxyFault, where: string, cause?: unknown, waiting = 'records wait in the local stream'): GatehouseError {
  // A CONNECT refused 401 is a refusal of the credentials too (tinyproxy answers so; the endpoint was not reached).
  const credentials = fault.status === 407 || fault.status === 401;
  const setup = fault.kind === 'refused' && (credentials || fault.status === 403);
  let hint: string;
  if (credentials)
    hint = `the proxy wants credentials it did not get or refused: set network.proxy.username and passwordFile (or user:password@ in network.proxy.url, HTTPS_PROXY or the destination's proxy), then reload or restart`;
  else if (fault.status === 403)
    hint = `the proxy's rules forbid a tunnel to ${fault.target} (a port it does not allow for CONNECT: tinyproxy's ConnectPort, squid's SSL_ports; or the host): ask for it to be allowed, or list the endpoint in network.proxy.noProxy when it is reachable directly`;
  else if (fault.kind === 'refused')
    hint = `the proxy could not open ${fault.target} for the gateway (its answer says why): check the endpoint from the proxy's side`;
  else if (fault.kind === 'closed')
    hint = "the proxy (or the endpoint behind it) closed the connection: the call is retried; if it keeps happening, check the proxy's log and its timeouts";
  else hint = `nothing answers at the proxy ${fault.proxy}: check network.proxy.url (or HTTPS_PROXY) and that the proxy runs`;
  return ERRORS.GH_UPSTREAM_PROXY(
    { reason: fault.message },
    {
      where,
      ...(cause === undefined ? {} : { cause }),
      details: { proxy: fault.proxy, fault: fault.kind, ...(fault.status === undefined ? {} : { status: fault.status }), ...(setup ? { setup: true } : {}) },
      hint: `${hint}; ${waiting}`,
    },
  );
}
