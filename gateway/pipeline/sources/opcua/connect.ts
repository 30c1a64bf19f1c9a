// Connecting to an OPC UA server with node-opcua, shared by the source and `gatehouse opcua
// browse`: the application certificate and trust list live under a PKI folder we choose (never
// node-opcua's default in the home folder), node-opcua's own reconnection is off (the source
// rebuilds client, session and subscriptions itself, so nothing can silently stay half-alive),
// and every step is bounded by a timeout.
import { mkdir, readFile } from 'node:fs/promises';
import { GatehouseError } from '../../../../core/errors.js';
import { classifyConnectFailure, connectError } from './connect-errors.js';

// node-opcua is an optional install, loaded on first use only.
export type OpcuaModule = typeof import('node-opcua-client');
type CertificateManagerModule = typeof import('node-opcua-certificate-manager');
export type OpcuaClient = import('node-opcua-client').OPCUAClient;
export type OpcuaSession = import('node-opcua-client').ClientSession;
type SecureChannel = import('node-opcua-client').ClientSecureChannelLayer;

export async function loadOpcua(): Promise<{ ua: OpcuaModule; certs: CertificateManagerModule }> {
  try {
    const [ua, certs, { guardSocketData, unbracketEndpointHosts }] = await Promise.all([
      import('node-opcua-client'),
      import('node-opcua-certificate-manager'),
      import('./transport-guard.js'),
    ]);
    // a throw in node-opcua's socket 'data' handler ends that connection, not the process
    guardSocketData(ua.StatusCodes.BadTcpInternalError);
    // opc.tcp://[fd00::10]:4840 dialled as fd00::10, not as the name '[fd00::10]'
    unbracketEndpointHosts();
    return { ua, certs };
  } catch (err) {
    // (an OPC UA source is refused earlier by its preflight, which names it: this is `gatehouse opcua`)
    throw new GatehouseError('GH_SOURCE_UNAVAILABLE', 'OPC UA needs the optional package node-opcua-client, which is not installed', {
      hint: 'run `npm install node-opcua-client` in the gateway folder (about 33 MB), then start again',
      cause: err,
    });
  }
}

export interface ConnectOptions {
  endpoint: string;
  securityMode: 'None' | 'Sign' | 'SignAndEncrypt';
  securityPolicy: 'None' | 'Basic256Sha256';
  auth: { type: 'anonymous' } | { type: 'username'; username: string; password: string } | { type: 'certificate'; certFile: string; keyFile: string };
  pkiDir: string;
  trustUnknownServer: boolean;
  timeoutMs: number;
  sessionTimeoutMs?: number;
}

export function bounded<T>(p: Promise<T>, ms: number, what: string, endpoint: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          connectError(
            endpoint,
            `the ${what} did not finish within ${ms} ms`,
            'check the endpoint URL (host and port of the OPC UA server: it answers at once), the network, and connectTimeoutMs (opcua browse: --timeout)',
          ),
        ),
      ms,
    );
  });
  return Promise.race([untilAborted(p, signal, endpoint, `the ${what}`), t]).finally(() => clearTimeout(timer));
}

/** Why a step was given up on (the source stops, or its session was lost): no fault of the server. */
function givenUpError(endpoint: string, what: string, signal: AbortSignal): GatehouseError {
  return connectError(
    endpoint,
    `${what} was given up: ${String(signal.reason ?? 'aborted')}`,
    'none needed: the source was stopping or reconnecting (it retries by itself)',
  );
}

/** Throws what untilAborted rejects with if `signal` has aborted already. */
function givenUp(signal: AbortSignal | undefined, endpoint: string): void {
  if (signal?.aborted) throw givenUpError(endpoint, 'the connect', signal);
}

/**
 * `p`, or a rejection as soon as `signal` aborts (the source stops, or its session was lost):
 * what `p` does is given up on, not awaited (its rejection, later, is swallowed). The caller
 * closes what it created, which ends `p` too.
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, endpoint: string, what: string): Promise<T> {
  if (!signal) return p;
  p.catch(() => undefined);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(givenUpError(endpoint, what, signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/**
 * The text of a node-opcua log call (ua.setWarningLogger / setErrorLogger), on one line. Its
 * loggers get the caller's context ({ filename, callerline }) first: not the message (it printed
 * as '[object Object]'). For the source's log and `gatehouse opcua browse`'s stderr alike.
 */
export function opcuaLogText(args: readonly unknown[]): string {
  const first = args[0];
  const message = typeof first === 'object' && first !== null && 'callerline' in first ? args.slice(1) : args;
  return message.map(String).join(' ').replace(/\s+/g, ' ').trim();
}

export type CertificateManager = import('node-opcua-certificate-manager').OPCUACertificateManager;

/**
 * The PKI (application certificate, trust list) of one source or one CLI run: created once and
 * reused by every reconnection (it watches its folders: one per attempt would leak watchers);
 * dispose() it when done.
 */
export async function certificateManager(certs: CertificateManagerModule, pkiDir: string, trustUnknownServer: boolean): Promise<CertificateManager> {
  await mkdir(pkiDir, { recursive: true });
  return new certs.OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: trustUnknownServer, name: 'pki' });
}

/** Who the gateway is to an OPC UA server: its client certificate is made for this URI. */
const CLIENT_APPLICATION = { applicationName: 'Gatehouse', applicationUri: 'urn:gatehouse:opcua-client' } as const;

/**
 * Connect and open a session; on failure everything created is disposed before the rejection.
 * `signal` (the source's stop) gives up at once on a connect or a session creation still pending:
 * a stop would otherwise wait up to connectTimeoutMs for each of them (a server that hangs).
 */
export async function openSession(
  ua: OpcuaModule,
  manager: CertificateManager,
  o: ConnectOptions,
  signal?: AbortSignal,
): Promise<{ client: OpcuaClient; session: OpcuaSession }> {
  // Ended before the connect began (a stop while the PKI folder was being made): nothing started.
  givenUp(signal, o.endpoint);
  const client = ua.OPCUAClient.create({
    ...CLIENT_APPLICATION,
    clientName: 'gatehouse',
    securityMode: ua.MessageSecurityMode[o.securityMode],
    securityPolicy: o.securityPolicy === 'None' ? ua.SecurityPolicy.None : ua.SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    keepSessionAlive: true,
    requestedSessionTimeout: o.sessionTimeoutMs ?? 60_000,
    // One attempt: the source owns the retry loop (with its backoff, counters and gap report).
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    clientCertificateManager: manager,
  });
  trackChannels(client);
  try {
    // The client's own certificate, made on the first connect with a fresh PKI folder (a key pair:
    // local work, up to seconds on a Pi), here and awaited, not inside the connect a stop gives up
    // on: there it went on and wrote the key pair and certificate after stop() returned (into a
    // data dir being removed; in a process that exits, half-written files).
    await manager.initialize();
    await client.createDefaultCertificate();
    givenUp(signal, o.endpoint);
    await bounded(client.connect(o.endpoint), o.timeoutMs, 'connect', o.endpoint, signal);
    const identity = await userIdentity(ua, o.auth, o.endpoint);
    const session = await bounded(client.createSession(identity), o.timeoutMs, 'session creation', o.endpoint, signal);
    return { client, session };
  } catch (err) {
    await closeQuietly(client, undefined, 2000);
    if (err instanceof GatehouseError) throw err;
    if (/Cannot find an Endpoint matching/.test((err as Error).message)) throw await noSuchEndpoint(ua, manager, o, err);
    throw await classifyConnectFailure(err, o, Math.min(o.timeoutMs, 3000), signal);
  }
}

/**
 * The server offers no endpoint with the configured security: say which it offers. node-opcua
 * said "Cannot find an Endpoint matching  security mode: 3 policy: http://...#Basic256Sha256".
 */
async function noSuchEndpoint(ua: OpcuaModule, manager: CertificateManager, o: ConnectOptions, cause: unknown): Promise<GatehouseError> {
  const wanted = `${o.securityMode} / ${o.securityPolicy}`;
  let offered = 'unknown (its endpoint list could not be read)';
  // the same application as the client: with node-opcua's default URI the certificate did not match
  // it ([NODE-OPCUA-W06] "The certificate subjectAltName does not match the client applicationUri")
  const probe = ua.OPCUAClient.create({
    ...CLIENT_APPLICATION,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    clientCertificateManager: manager,
  });
  trackChannels(probe);
  try {
    await bounded(probe.connect(o.endpoint), o.timeoutMs, 'connect', o.endpoint);
    const endpoints = await bounded(probe.getEndpoints(), o.timeoutMs, 'endpoint discovery', o.endpoint);
    const pairs = endpoints.map((e) => `${ua.MessageSecurityMode[e.securityMode]} / ${(e.securityPolicyUri ?? '').split('#').pop()}`);
    offered = [...new Set(pairs)].join(', ');
  } catch {
    // The list is a courtesy: the error stands without it.
  } finally {
    await closeQuietly(probe, undefined, 2000);
  }
  return connectError(
    o.endpoint,
    `the server offers no endpoint with securityMode / securityPolicy ${wanted}; it offers ${offered}`,
    'set securityMode and securityPolicy (opcua browse: --security-mode) to a pair the server offers, or enable that security on the server',
    cause,
  );
}

async function userIdentity(ua: OpcuaModule, auth: ConnectOptions['auth'], endpoint: string): Promise<import('node-opcua-client').UserIdentityInfo> {
  if (auth.type === 'username') return { type: ua.UserTokenType.UserName, userName: auth.username, password: auth.password };
  if (auth.type === 'certificate') {
    const pem = await readFile(auth.certFile, 'utf8');
    const b64 = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
    if (!b64) throw connectError(endpoint, `auth.certFile ${auth.certFile} holds no PEM certificate`, 'give a PEM (BEGIN CERTIFICATE) user certificate');
    const privateKey = await readFile(auth.keyFile, 'utf8');
    return { type: ua.UserTokenType.Certificate, certificateData: Buffer.from(b64.replace(/\s+/g, ''), 'base64'), privateKey };
  }
  return { type: ua.UserTokenType.Anonymous };
}

/**
 * The secure channels each client created, from node-opcua's public 'secure_channel_created'
 * event (emitted as the channel is made, before its socket connects): the client forgets its
 * channel as soon as its disconnect begins, so it is taken here. Weak: gone with the client.
 */
const channelsOf = new WeakMap<OpcuaClient, SecureChannel[]>();

function trackChannels(client: OpcuaClient): void {
  const channels: SecureChannel[] = [];
  channelsOf.set(client, channels);
  client.on('secure_channel_created', (channel) => channels.push(channel));
}

/**
 * Close session and client, bounded: a dead server must not hold the source. Then the sockets of
 * the client's channels are destroyed, whatever the polite close did: against a server that froze
 * (accepts, no longer answers) the disconnect waits for an answer to its CloseSecureChannel and
 * node-opcua closed the socket only when that request timed out, ~16 s after the stop returned: a
 * file descriptor and a connection to the PLC (which may allow only a few sessions) held by a
 * source that said it stopped. The channel's dispose() (public) destroys its transports' sockets;
 * after a close that finished it does nothing.
 */
export async function closeQuietly(client: OpcuaClient | undefined, session: OpcuaSession | undefined, ms: number): Promise<void> {
  const step = async (p: (() => Promise<unknown>) | undefined): Promise<void> => {
    if (!p) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  };
  await step(session ? () => session.close(true) : undefined);
  await step(client ? () => client.disconnect() : undefined);
  for (const channel of (client && channelsOf.get(client)) ?? []) {
    try {
      channel.dispose();
    } catch {
      // already torn down by node-opcua: nothing of it is left to close
    }
  }
}
