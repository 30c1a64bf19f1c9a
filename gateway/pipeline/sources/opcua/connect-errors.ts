// What a failed OPC UA connect says: every failure is the catalogue's GH_SOURCE_CONNECT
// ('cannot reach {endpoint}: {reason}'), its reason in the user's words and its fix naming the
// option to change, and one cause reads the same whatever the security mode. node-opcua's own
// texts differ by mode for one cause: a stopped server was "connect ECONNREFUSED" with
// securityMode None but "premature disconnection 4" with Sign or SignAndEncrypt (node-opcua
// first fetches the server's certificate with a client of its own, which drops the socket error).
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { ERRORS, type GatehouseError } from '../../../../core/errors.js';

/** What a message's options say about the connect (the parts the errors name). */
export interface ConnectFacts {
  endpoint: string;
  auth: { type: 'anonymous' } | { type: 'username'; username: string } | { type: 'certificate'; certFile: string };
  pkiDir: string;
}

/** GH_SOURCE_CONNECT at `endpoint`, the reason and its fix. */
export function connectError(endpoint: string, reason: string, hint: string, cause?: unknown): GatehouseError {
  return ERRORS.GH_SOURCE_CONNECT({ endpoint, reason }, { where: endpoint, hint, ...(cause === undefined ? {} : { cause }) });
}

/** What a socket error code says of an endpoint, and how to fix it. */
const SOCKET_ERRORS: Record<string, { what: string; hint: string }> = {
  ECONNREFUSED: { what: 'nothing accepts connections at that host and port', hint: 'check that the OPC UA server runs and the port of the endpoint URL' },
  ECONNRESET: { what: 'the connection was reset', hint: 'check that this port is the OPC UA server, not another service or a proxy' },
  ENOTFOUND: { what: 'the host name does not resolve', hint: 'check the host of the endpoint URL (DNS, /etc/hosts), or use its IP address' },
  EAI_AGAIN: { what: 'the host name could not be resolved now (DNS)', hint: 'check the DNS servers, or use the IP address in the endpoint URL' },
  EHOSTUNREACH: { what: 'the host cannot be reached', hint: 'check the address of the endpoint URL, the network and the routes' },
  ENETUNREACH: { what: 'the network of that host cannot be reached', hint: 'check the address of the endpoint URL, the network and the routes' },
  ETIMEDOUT: { what: 'the connection timed out', hint: 'check the address of the endpoint URL and that no firewall drops the port' },
};

/** A socket error's text ("connect ECONNREFUSED 127.0.0.1:4840") as the reason and fix, or undefined. */
function socketError(text: string, endpoint: string, cause: unknown): GatehouseError | undefined {
  const code = Object.keys(SOCKET_ERRORS).find((c) => new RegExp(`\\b${c}\\b`).test(text));
  if (code === undefined) return undefined;
  const e = SOCKET_ERRORS[code]!;
  return connectError(endpoint, `${e.what} (${text.replace(/\s+/g, ' ').trim()})`, e.hint, cause);
}

/** Host and port of an opc.tcp:// URL (4840, OPC UA's port, when it names none). */
function hostPort(endpoint: string): { host: string; port: number } | undefined {
  try {
    const url = new URL(endpoint);
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 4840 : Number(url.port) };
  } catch {
    return undefined;
  }
}

/**
 * Open a TCP connection to the endpoint's host and port and close it: the socket error's text
 * (`connect ECONNREFUSED ...`, `getaddrinfo ENOTFOUND ...`), or undefined when it connects (or
 * takes longer than `ms`, or `signal` aborts: a stop does not wait for it). Used only after
 * node-opcua lost the socket error.
 */
function probe(endpoint: string, ms: number, signal: AbortSignal | undefined): Promise<string | undefined> {
  const at = hostPort(endpoint);
  if (!at) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = tcpConnect(at);
    const done = (text: string | undefined): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(text);
    };
    const onAbort = (): void => done(undefined);
    const timer = setTimeout(onAbort, ms);
    if (signal?.aborted) return done(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(undefined));
    socket.once('error', (err) => done(err.message));
  });
}

/** A certificate status of node-opcua's verification, what it means and that it is the server's. */
const SERVER_CERTIFICATE_STATUS = /\b(BadCertificate[A-Za-z]*)\b/;

/** The status code name in node-opcua's text ("BadUserAccessDenied (0x801f0000)"), if any. */
function statusName(text: string): string | undefined {
  return /\b(Bad[A-Za-z]+)\b/.exec(text)?.[1];
}

/**
 * The GH_SOURCE_CONNECT of a connect or session creation that failed (not a timeout, not a stop:
 * those are made where they happen). `probeMs` bounds the TCP probe made when node-opcua lost the
 * socket's error; `signal` (the source's stop) ends it at once.
 */
export async function classifyConnectFailure(err: unknown, o: ConnectFacts, probeMs: number, signal?: AbortSignal): Promise<GatehouseError> {
  // node-opcua's texts span lines ("...server X .\nPlease check...\nErr = (...)"): one line for the
  // status page, `gatehouse sources` and the log.
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ').trim();
  const inner = /Err = \((.*)\)\s*$/s.exec(text)?.[1]?.trim() ?? text;
  const bySocket = socketError(inner, o.endpoint, err);
  if (bySocket) return bySocket;
  const pki = o.pkiDir;
  const status = statusName(text);

  // The connection ended before the handshake: with Sign/SignAndEncrypt node-opcua says only
  // "premature disconnection 4" (a stopped server, an unknown host, a port of another service
  // alike), so the socket is tried again to name the cause as securityMode None does. With None,
  // a service that closes at once is "disconnected by third party", one that answers something
  // else (an HTTP server) "ERROR in waiting for data on socket".
  if (/premature disconnection|collect server's certificate|disconnected by third party|Connection aborted|ERROR in waiting for data on socket/i.test(text)) {
    const socketText = await probe(o.endpoint, probeMs, signal);
    const again = socketText === undefined ? undefined : socketError(socketText, o.endpoint, err);
    if (again) return again;
    return connectError(
      o.endpoint,
      'the server closed the connection before the OPC UA handshake finished',
      'check that this port is the OPC UA server (not another service or a proxy) and that it takes one more client (its connection limit)',
      err,
    );
  }
  if (SERVER_CERTIFICATE_STATUS.test(text) && /verification failed|server Certificate/i.test(text)) {
    const code = SERVER_CERTIFICATE_STATUS.exec(text)![1]!;
    const untrusted = code === 'BadCertificateUntrusted';
    return connectError(
      o.endpoint,
      untrusted ? `the gateway does not trust the server's certificate (${code})` : `the server's certificate was refused (${code})`,
      untrusted
        ? `move the server's certificate from ${join(pki, 'rejected')} to ${join(pki, 'trusted', 'certs')} (or set trustUnknownServer: true, on a closed network only); the source retries by itself`
        : `check the server's certificate (its validity dates, host name and application URI) and the clock of the gateway; the certificate is in ${join(pki, 'rejected')}`,
      err,
    );
  }
  if (status === 'BadSecurityChecksFailed' || /rejected by server: BadCertificate/i.test(text)) {
    return connectError(
      o.endpoint,
      `the server refused the gateway's certificate (${status ?? 'BadSecurityChecksFailed'})`,
      `trust the gateway's certificate on the server (${join(pki, 'own', 'certs', 'client_certificate.pem')}; most servers list it as rejected: accept it there); the source retries by itself`,
      err,
    );
  }
  if (status === 'BadUserAccessDenied' || status === 'BadIdentityTokenRejected' || status === 'BadIdentityTokenInvalid') {
    const who =
      o.auth.type === 'username' ? `the login of user '${o.auth.username}'` : o.auth.type === 'certificate' ? 'the user certificate' : 'the anonymous login';
    return connectError(
      o.endpoint,
      `the server refused ${who} (${status})`,
      o.auth.type === 'username'
        ? "check auth.username and auth.password (opcua browse: --user, --password) against the server's users"
        : o.auth.type === 'certificate'
          ? `check that the server trusts the user certificate ${o.auth.certFile}`
          : 'give a login the server accepts: auth: { type: username, username, password } or { type: certificate, certFile, keyFile }',
      err,
    );
  }
  const noTokenPolicy = /Cannot find (\w+) user token policy/i.exec(text);
  if (noTokenPolicy) {
    const kind = noTokenPolicy[1]!.toUpperCase();
    const what =
      kind === 'ANONYMOUS'
        ? 'anonymous logins'
        : kind === 'USERNAME'
          ? 'logins by user name and password'
          : kind === 'CERTIFICATE'
            ? 'logins by user certificate'
            : `${kind} logins`;
    return connectError(
      o.endpoint,
      `the server does not accept ${what}`,
      'set auth to a login the server accepts (anonymous, { type: username, ... } or { type: certificate, ... }; opcua browse: --user, --password; what a server accepts can differ by securityMode), or enable that login on the server',
      err,
    );
  }
  return connectError(
    o.endpoint,
    `cannot open an OPC UA session: ${text}`,
    `check the endpoint, the security mode/policy and the login; an untrusted server certificate lands in ${join(pki, 'rejected')} (move it to trusted/certs)`,
    err,
  );
}
