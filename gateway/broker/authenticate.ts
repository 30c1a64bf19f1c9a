// The aedes authenticate hook, apart from the other hooks (hooks.ts: publish, subscribe and
// delivery checks, on the message path): who may connect, once per CONNECT. The client id
// (zero-length without clean session, over maxClientIdLength), a will topic over maxTopicLength,
// anonymous clients, users and their scrypt passwords (the same time for an unknown user), the
// failed-authentication bans and the bound on password checks waiting (auth-guard.ts), then the
// connection limits (broker and listener); an accepted client gets its ACL, rate limits and
// message source. A refusal is an error with the CONNACK return code aedes sends.
import type { Socket } from 'node:net';
import type { Client } from 'aedes';
import type { MessageSource } from '../../core/message.js';
import { ERRORS, errorMessage, type GatehouseError } from '../../core/errors.js';
import type { RateLog } from '../../core/rate-log.js';
import { compileClientAcl } from './acl.js';
import type { AuthGuard, BanScope } from './auth-guard.js';
import type { ConnState } from './connection.js';
import { topicForLog, utf8LengthOver } from './identifier-limits.js';
import { connectedOn, listenerConnectionCaps } from './listener-caps.js';
import type { BrokerStats } from './metrics.js';
import type { BrokerOptions } from './options.js';
import { DUMMY_HASH, verifyPassword } from './password.js';
import { publishRateLimitsByUser } from './rate-limit.js';
import { connackName } from './connack-codes.js';
import { certificateIdentity, listenerIdentities, type ListenerIdentity } from './cert-identity.js';

type AuthError = GatehouseError & { returnCode: number };
export type AuthCallback = (err: AuthError | null, ok: boolean | null) => void;

/** What authenticate uses of the broker (hooks.ts HookDeps has them all). */
export interface AuthenticateDeps {
  options: BrokerOptions;
  stats: BrokerStats;
  now: () => number;
  /** Connection state by aedes client (set when the socket is handed to aedes). */
  states: WeakMap<Client, ConnState>;
  /** Authorized connections (for clients()). */
  live: Set<ConnState>;
  /** Whether aedes already has a client with this id (a reconnect taking over its session). */
  hasClient(id: string): boolean;
  authGuard: AuthGuard;
  /** Bounded-rate warnings (floods, bans). */
  rateLog: RateLog;
  /**
   * Whether the listener's CRL revokes this client's certificate now (tls.crl, as last reloaded):
   * a handshake done before a reload, its CONNECT after, is refused (revoked.ts closes those
   * already connected).
   */
  certificateRevoked?(st: ConnState): boolean;
}

/** A refusal aedes turns into a CONNACK with `returnCode` (2 id rejected, 3 unavailable, 4 bad credentials, 5 not authorized). */
function authError(returnCode: 2 | 3 | 4 | 5, err: GatehouseError): AuthError {
  return Object.assign(err, { returnCode });
}

/**
 * The CONNACK code this client is sent for a refusal with `returnCode`, as a log line names it:
 * the 3.1.1 return code, or for an MQTT 5 client (v5/connection.ts) its reason code (0x03 is 0x88
 * there, 0x05 is 0x87), so the log says what the client saw.
 */
function connackSent(client: Client, returnCode: 2 | 3 | 4 | 5): string {
  return connackName(client.version, returnCode);
}

/** The authenticate hook, made once per broker. */
export function createAuthenticate(
  deps: AuthenticateDeps,
): (client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, cb: AuthCallback) => void {
  const { options, stats, now, states, live } = deps;
  const guard = deps.authGuard;
  const usersByName = new Map(options.users.map((u) => [u.username, u.password]));
  const { maxConnections, maxTopicLength } = options;
  const rateLimitsOf = publishRateLimitsByUser(options);
  const listenerCaps = listenerConnectionCaps(options.listeners);
  const identities = listenerIdentities(options.listeners);

  function authenticate(client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, cb: AuthCallback): void {
    const st = states.get(client);
    if (!st) return cb(authError(3, ERRORS.GH_INTERNAL({ reason: 'authenticate() for an unknown connection' })), null);
    if (st.emptyIdPersistent) {
      stats.protocolErrors++;
      return cb(authError(2, ERRORS.GH_CLIENT_ID_REJECTED({ reason: 'a zero-length client id needs clean session' })), null);
    }
    const idBytes = utf8LengthOver(client.id ?? '', options.maxClientIdLength);
    if (idBytes !== undefined) {
      stats.clientIdTooLong++;
      deps.rateLog(
        'client-id-too-long',
        { ip: st.ip, clientId: topicForLog(client.id), bytes: idBytes, maxClientIdLength: options.maxClientIdLength },
        'client id over broker.maxClientIdLength: CONNACK identifier rejected',
      );
      return cb(authError(2, ERRORS.GH_CLIENT_ID_TOO_LONG({ bytes: idBytes, maxClientIdLength: options.maxClientIdLength })), null);
    }
    if (st.willTopicTooLong !== undefined) return refuseWill(st, st.willTopicTooLong, cb);
    if (deps.certificateRevoked?.(st)) return refuseRevoked(st, cb);
    // a listener whose certificates name their clients (tls.identity): the CONNECT's user name and password are not read
    const identity = identities.get(st.listener);
    if (identity) return acceptCertificate(st, identity, cb);
    const anonymous = username === undefined || username === '';
    if (anonymous || (usersByName.size === 0 && options.allowAnonymous)) {
      // With no users configured, a user name proves nothing: the client is anonymous.
      if (!options.allowAnonymous) {
        const banned = guard.banned(st.ip, undefined);
        if (banned) return refuseBanned(st, undefined, banned, cb);
        failed(st, undefined);
        return cb(authError(5, ERRORS.GH_AUTH_FAILED({ reason: 'anonymous clients are not allowed' })), null);
      }
      return accept(st, undefined, cb);
    }
    const banned = guard.banned(st.ip, username);
    if (banned) return refuseBanned(st, username, banned, cb);
    guard.acquire().then(
      (release) => {
        if (!release) {
          stats.authBusy++;
          deps.rateLog('auth-busy', { maxQueuedChecks: options.authBackoff.maxQueuedChecks }, `too many password checks waiting: ${connackSent(st.client, 3)}`);
          return cb(authError(3, ERRORS.GH_AUTH_FAILED({ reason: 'too many authentication attempts in progress' })), null);
        }
        if (st.closed) {
          release();
          return cb(null, false);
        }
        // the ban may have started while this attempt waited for its slot
        const late = guard.banned(st.ip, username);
        if (late) {
          release();
          return refuseBanned(st, username, late, cb);
        }
        const hash = usersByName.get(username);
        // unknown user: spend the same scrypt time as for a known one (no enumeration by timing)
        verifyPassword(password ?? '', hash ?? DUMMY_HASH).then(
          (ok) => {
            release();
            if (ok && hash !== undefined) {
              guard.succeeded(st.ip, username);
              return accept(st, username, cb);
            }
            failed(st, username);
            cb(authError(4, ERRORS.GH_AUTH_FAILED({ reason: 'bad user name or password' })), null);
          },
          (err: unknown) => {
            release();
            cb(authError(3, ERRORS.GH_INTERNAL({ reason: `password check failed: ${errorMessage(err)}` }, { cause: err })), null);
          },
        );
      },
      (err: unknown) => cb(authError(3, ERRORS.GH_INTERNAL({ reason: `password check failed: ${errorMessage(err)}` }, { cause: err })), null),
    );
  }

  /** A will whose topic is over maxTopicLength: CONNACK 0x05 (3.1.1 has no code for a will; MQTT 5 answers 0x90 in v5/connect.ts). */
  function refuseWill(st: ConnState, bytes: number, cb: AuthCallback): void {
    stats.topicTooLong++;
    deps.rateLog(
      'will-topic-too-long',
      { client: st.client.id, ip: st.ip, bytes, maxTopicLength },
      'will topic over broker.maxTopicLength: CONNACK not authorized',
    );
    cb(authError(5, ERRORS.GH_TOPIC_TOO_LONG({ bytes, maxTopicLength })), null);
  }

  /**
   * A client on a tls.identity listener: its certificate's identity is its user name. Refused
   * (counted as an authentication failure, not as a ban: the CA vouched for this certificate)
   * when the certificate has none, or when the client id must be it and is not.
   */
  function acceptCertificate(st: ConnState, how: ListenerIdentity, cb: AuthCallback): void {
    const cert = certificateIdentity((st.client as { conn?: Socket }).conn, how.mode);
    if (cert?.identity === undefined) {
      stats.authFailures++;
      const what = how.mode === 'cn' ? 'a common name (CN)' : 'a subject';
      deps.rateLog(
        'cert-no-identity',
        { listener: st.listener, ip: st.ip, client: st.client.id, subject: cert?.subject, identity: how.mode, failures: stats.authFailures },
        `client certificate without ${what}, which its listener takes as the user name (tls.identity: ${how.mode}): ${connackSent(st.client, 5)}`,
      );
      return cb(
        authError(5, ERRORS.GH_AUTH_FAILED({ reason: `the client certificate has no ${what}, the user name on this listener (tls.identity: ${how.mode})` })),
        null,
      );
    }
    if (how.clientIdMustMatch && st.client.id !== cert.identity) {
      stats.authFailures++;
      deps.rateLog(
        'cert-client-id',
        { listener: st.listener, ip: st.ip, client: topicForLog(st.client.id), identity: cert.identity, failures: stats.authFailures },
        `client id is not its certificate's identity (tls.clientIdMustMatchIdentity): ${connackSent(st.client, 2)}`,
      );
      return cb(authError(2, ERRORS.GH_CLIENT_ID_REJECTED({ reason: `the client id must be its certificate's identity '${cert.identity}'` })), null);
    }
    return accept(st, cert.identity, cb);
  }

  function refuseRevoked(st: ConnState, cb: AuthCallback): void {
    stats.revokedClosed.set(st.listener, (stats.revokedClosed.get(st.listener) ?? 0) + 1);
    deps.rateLog(
      'cert-revoked',
      { listener: st.listener, ip: st.ip, client: topicForLog(st.client.id) },
      `CONNECT over a handshake made before its certificate was revoked (tls.crl reloaded): ${connackSent(st.client, 5)}`,
    );
    cb(authError(5, ERRORS.GH_AUTH_FAILED({ reason: 'its client certificate is revoked (tls.crl)' })), null);
  }

  function failed(st: ConnState, user: string | undefined): void {
    stats.authFailures++;
    deps.rateLog('auth-failed', { user, ip: st.ip, failures: stats.authFailures }, 'MQTT authentication failed');
    for (const scope of guard.failed(st.ip, user)) {
      if (scope === 'address') stats.authBansAddress++;
      else stats.authBansUser++;
      deps.rateLog(
        `ban-${scope}`,
        { scope, ip: st.ip, user, bans: stats.authBansAddress + stats.authBansUser },
        'repeated failed authentication: temporary ban',
      );
    }
  }

  function refuseBanned(st: ConnState, user: string | undefined, scope: BanScope, cb: AuthCallback): void {
    stats.authBannedAttempts++;
    deps.rateLog(
      'banned-attempt',
      { scope, ip: st.ip, user, refused: stats.authBannedAttempts },
      `CONNECT from a banned address or user name: ${connackSent(st.client, 5)}`,
    );
    cb(authError(5, ERRORS.GH_AUTH_FAILED({ reason: `temporarily banned (${scope}) after repeated failed authentication` })), null);
  }

  function accept(st: ConnState, user: string | undefined, cb: AuthCallback): void {
    if (st.closed) return cb(null, false); // socket gone while verifying; aedes drops it
    const client = st.client;
    // A reconnecting client id takes over its old session, so it does not need a new slot.
    if (stats.clients >= maxConnections && !deps.hasClient(client.id)) {
      stats.connectionsRefused++;
      // Rate-limited: devices over the limit retry at once, each refusal is counted (connections_refused_total).
      deps.rateLog(
        'max-connections',
        { maxConnections, client: client.id, ip: st.ip, refused: stats.connectionsRefused },
        `connection limit reached, refusing client (${connackSent(client, 3)})`,
      );
      return cb(authError(3, ERRORS.GH_TOO_MANY_CLIENTS({ maxConnections })), null);
    }
    const listenerCap = listenerCaps.get(st.listener);
    if (listenerCap !== undefined && connectedOn(live, st.listener, client.id) >= listenerCap) {
      const refused = (stats.listenerRefused.get(st.listener) ?? 0) + 1;
      stats.listenerRefused.set(st.listener, refused);
      deps.rateLog(
        `listener-max-connections:${st.listener}`,
        { listener: st.listener, maxConnections: listenerCap, client: client.id, ip: st.ip, refused },
        `listener's connection limit reached, refusing client (${connackSent(client, 3)})`,
      );
      return cb(authError(3, ERRORS.GH_LISTENER_FULL({ listener: st.listener, maxConnections: listenerCap })), null);
    }
    st.authorized = true;
    stats.clients++;
    live.add(st);
    st.user = user;
    st.connectedAt = now();
    st.acl = compileClientAcl(options.acl, user, client.id);
    st.rateLimits = rateLimitsOf(user);
    const source: MessageSource = { kind: 'mqtt', id: client.id };
    if (st.ip !== undefined) source.ip = st.ip;
    // principal(): the user name (on a tls.identity listener, the certificate's); for a mutual-TLS client without one, its certificate's thumbprint (as AWS IoT).
    const principal = user ?? st.certThumbprint;
    if (principal !== undefined) source.principal = principal;
    st.source = source;
    cb(null, true);
  }

  return authenticate;
}
