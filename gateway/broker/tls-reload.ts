// TLS certificates of the broker's listeners, of the admin API and of http sources, renewed under a running gateway.
//
// Short-lived certificates (step-ca's 24 h, ACME's 90 days) are renewed by an agent that writes
// new files and then runs `systemctl reload gatehouse` (SIGHUP), as it would for mosquitto or
// nginx. reload() reads every TLS listener's cert, key, ca and crl again and, when they changed,
// swaps them in with tls.Server.setSecureContext (an https.Server is one too): new handshakes get
// the new certificate, connected clients keep their sessions (but those a new CRL revokes:
// revoked.ts). Files that do not load (unreadable, not PEM, a key that does not match the
// certificate, a CRL of none of the listener's CAs: crl-load.ts) are refused with the kind's
// error code (GH_BROKER_TLS, GH_ADMIN_TLS) and the running certificate is kept.
//
// Expiry is watched, never enforced: the served certificate's notAfter is a gauge
// (gatehouse_broker_tls_cert_expiry_timestamp_seconds, gatehouse_admin_tls_..., as blackbox_exporter's
// probe_ssl_earliest_cert_expiry) and a warning in the log when it is near (EXPIRY_WARN_DAYS) or
// past, at start, at every reload and once a day; expiryEntries() lists each one as last read (use
// 'served'), beside the upstream ones in /healthz, /api/overview, the status page and `gatehouse
// status`. A certificate is never refused for its dates: a Pi without a real-time clock may run on
// a wrong wall clock until NTP steps it, and refusing a good certificate then would lock every
// device out.
import { constants as cryptoConstants } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { nodeTls } from '../../core/tls-modules.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Counter, Gauge } from 'prom-client';
import { counter, gauge } from '../../core/metrics.js';
import { ERRORS, errorMessage, type GatehouseError } from '../../core/errors.js';
import { changedTlsFiles } from '../../core/tls-files.js';
import {
  DAY_MS,
  certificateNotAfter,
  certificateValidity,
  everyDay,
  expiryLine,
  expiryState,
  oneAtATime,
  type CertExpiryEntry,
} from '../../core/cert-expiry.js';
import { loadCrls, CrlWatch, type LoadedCrls } from './crl-load.js';
import { isRevoked, type ParsedCrl } from './crl.js';

// The warning window and the parsing of dates are shared with the upstream certificates' watch.
export { EXPIRY_WARN_DAYS, certificateNotAfter, certificateValidity } from '../../core/cert-expiry.js';

/**
 * Options of every server TLS context (broker listeners, admin HTTPS), at start and at each reload
 * (setSecureContext builds a new context from what it is given). No renegotiation: each one a
 * client asks for is a full handshake of server CPU on a connection already accepted, past the
 * pre-CONNECT limits (node only counts them); nginx refuses them too, and TLS 1.3 has none.
 */
export const SERVER_TLS_OPTIONS = { secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION } as const;

export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string | undefined;
  /** Broker listeners: their CRLs (tls.crl). */
  crl?: string | undefined;
}

/** The bytes of one listener's TLS files, as last loaded. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  crl?: Buffer;
}

export interface TlsReloadOutcome {
  listener: string;
  /** reloaded: new files swapped in; unchanged: same bytes as running; refused: the running certificate is kept. */
  outcome: 'reloaded' | 'unchanged' | 'refused';
  /** The served certificate's notAfter (ISO), after the reload. */
  notAfter?: string;
  error?: GatehouseError;
}

/** A TLS listener as the broker created it (listeners.ts). */
export interface TlsListener {
  name: string;
  /** Index in broker.listeners (for `where` in errors). */
  index: number;
  files: TlsFiles;
  server: TlsServer;
  material: TlsMaterial;
  /** The CRLs of material.crl, read (crl-load.ts). */
  crls?: LoadedCrls | undefined;
}

/** Whose certificates: names the metrics, the error code and the key path in errors. */
export interface TlsKind {
  /** The kind of its entries in /healthz's certificates (use 'served'). */
  kind: 'listener' | 'admin' | 'source';
  /** Metric name prefix: gatehouse_broker_tls, gatehouse_admin_tls, gatehouse_http_source_tls. */
  metrics: 'gatehouse_broker_tls' | 'gatehouse_admin_tls' | 'gatehouse_http_source_tls' | 'gatehouse_syslog_source_tls';
  code: 'GH_BROKER_TLS' | 'GH_ADMIN_TLS' | 'GH_HTTP_SOURCE_TLS' | 'GH_SYSLOG_SOURCE_TLS';
  /** A source's: its kind's word in the expiry warning ('http source', 'syslog source'). */
  sourceKind?: string;
  /** Who serves the certificates, in the metrics' help: 'a TLS listener', 'the admin API'. */
  whose: string;
  /** The config key path of a listener's tls block. */
  where(index: number): string;
}

export const BROKER_TLS: TlsKind = {
  kind: 'listener',
  metrics: 'gatehouse_broker_tls',
  code: 'GH_BROKER_TLS',
  whose: 'a TLS listener',
  where: (i) => `broker.listeners.${i}.tls`,
};
export const ADMIN_TLS: TlsKind = { kind: 'admin', metrics: 'gatehouse_admin_tls', code: 'GH_ADMIN_TLS', whose: 'the admin API', where: () => 'admin.tls' };
/** An http source's (pipeline/sources/http): the listener label is the source's name, `where` names it as the other sources' errors do. */
export function httpSourceTls(source: string): TlsKind {
  return {
    kind: 'source',
    metrics: 'gatehouse_http_source_tls',
    code: 'GH_HTTP_SOURCE_TLS',
    whose: 'an http source',
    sourceKind: 'http source',
    where: () => `sources.${source}.tls`,
  };
}
/** A syslog source's (pipeline/sources/syslog), as an http source's: its tls listener's, or its relp listener's (relp.tls). */
export function syslogSourceTls(source: string, listener: 'tls' | 'relp' = 'tls'): TlsKind {
  return {
    kind: 'source',
    metrics: 'gatehouse_syslog_source_tls',
    code: 'GH_SYSLOG_SOURCE_TLS',
    whose: 'a syslog source',
    sourceKind: 'syslog source',
    where: () => (listener === 'relp' ? `sources.${source}.relp.tls` : `sources.${source}.tls`),
  };
}

function tlsError(kind: TlsKind, listener: string, reason: string, where: string, cause: unknown): GatehouseError {
  return ERRORS[kind.code]({ listener, reason }, { where, cause });
}

async function readOne(kind: TlsKind, path: string, listener: string, where: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw tlsError(kind, listener, `cannot read ${path}: ${errorMessage(err)}`, where, err);
  }
}

/** Read a listener's TLS files (the kind's error code, naming the file when one cannot be read). */
export async function readTlsMaterial(files: TlsFiles, listener: string, where: string, kind: TlsKind = BROKER_TLS): Promise<TlsMaterial> {
  const cert = await readOne(kind, files.cert, listener, `${where}.cert`);
  const key = await readOne(kind, files.key, listener, `${where}.key`);
  const ca = files.ca !== undefined ? await readOne(kind, files.ca, listener, `${where}.ca`) : undefined;
  const crl = files.crl !== undefined ? await readOne(kind, files.crl, listener, `${where}.crl`) : undefined;
  return { cert, key, ...(ca ? { ca } : {}), ...(crl ? { crl } : {}) };
}

export interface ServedTlsDeps {
  logger: Logger;
  registry: Registry;
  /** Wall clock (epoch ms): expiry is a calendar date. */
  now: () => number;
  /** A listener's CRLs were loaded again (changed on SIGHUP): the broker closes the connections they revoke. */
  onCrlReloaded?(listener: string, crls: readonly ParsedCrl[]): void;
}

/** The certificates a set of TLS servers serve: reloaded on SIGHUP, their expiry watched. */
export class ServedTls {
  private readonly expiry: Gauge<'listener'>;
  private readonly reloads: Counter<'listener' | 'outcome'>;
  private daily: { stop(): void } | undefined;
  /** Each listener's certificate as last read (start, reload, the daily check), for expiryEntries(). */
  private readonly entries = new Map<string, CertExpiryEntry>();
  /** Reloads run one at a time (two SIGHUPs in a row must not interleave reads and swaps). */
  private readonly serial = oneAtATime();
  private readonly crlWatch: CrlWatch | undefined;

  constructor(
    private readonly listeners: readonly TlsListener[],
    private readonly deps: ServedTlsDeps,
    private readonly kind: TlsKind = BROKER_TLS,
  ) {
    // Declared idempotently: several http sources serve TLS, one ServedTls each, on one registry.
    this.expiry = gauge(
      deps.registry,
      `${kind.metrics}_cert_expiry_timestamp_seconds`,
      `notAfter of the certificate ${kind.whose} serves (epoch seconds); alert before it passes and renew, then reload`,
      ['listener'],
    );
    this.reloads = counter(
      deps.registry,
      `${kind.metrics}_reloads_total`,
      `TLS file reloads of ${kind.whose} (SIGHUP), by outcome: reloaded, unchanged, refused`,
      ['listener', 'outcome'],
    );
    if (kind === BROKER_TLS) this.crlWatch = new CrlWatch(deps);
  }

  /** Publish the expiry gauges, warn of near expiry, and check again once a day. */
  start(): void {
    if (this.listeners.length === 0) return;
    for (const l of this.listeners) this.watchExpiry(l);
    this.daily = everyDay(() => {
      for (const l of this.listeners) this.watchExpiry(l);
    });
  }

  stop(): void {
    this.daily?.stop();
    this.daily = undefined;
  }

  /** Read every TLS listener's files again and swap in those that changed (SIGHUP). */
  reload(): Promise<TlsReloadOutcome[]> {
    return this.serial(async () => {
      const out: TlsReloadOutcome[] = [];
      for (const l of this.listeners) out.push(await this.reloadOne(l));
      return out;
    });
  }

  /** The served certificates as last read, near or past their notAfter or not (/healthz lists those that are). */
  expiryEntries(): CertExpiryEntry[] {
    return [...this.entries.values()];
  }

  /** Does the listener's CRL, as last loaded, revoke the certificate of this client socket? */
  revoked(listener: string, socket: unknown): boolean {
    const crls = this.listeners.find((l) => l.name === listener)?.crls;
    const tls = socket as Partial<TLSSocket> | undefined;
    if (!crls || typeof tls?.getPeerCertificate !== 'function') return false;
    const raw = tls.getPeerCertificate().raw;
    return raw !== undefined && isRevoked(crls.list, raw);
  }

  private async reloadOne(l: TlsListener): Promise<TlsReloadOutcome> {
    const where = this.kind.where(l.index);
    const log = this.deps.logger;
    let next: TlsMaterial;
    // Which files changed: a renewed CA bundle alone (mutual TLS) is a reload too.
    let changed: Array<'ca' | 'cert' | 'key' | 'crl'>;
    let crls: LoadedCrls | undefined;
    try {
      next = await readTlsMaterial(l.files, l.name, where, this.kind);
      // node takes a CA file without a certificate silently, and every client certificate then fails
      if (next.ca && !next.ca.toString().includes('-----BEGIN CERTIFICATE-----'))
        throw tlsError(this.kind, l.name, `the ca file ${l.files.ca} holds no PEM certificate; the running files are kept`, `${where}.ca`, undefined);
      changed = changedTlsFiles(l.material, next);
      if (!sameBytes(l.material.crl, next.crl)) changed.push('crl');
      if (changed.length === 0) return this.done(l, 'unchanged');
      // A CRL that does not parse, or is no CRL of the listener's CAs, is refused (crl-load.ts).
      crls = loadCrls(next, l.name, where);
      // createSecureContext is what setSecureContext runs: a key that does not match the
      // certificate, or a file that is not PEM, throws here and nothing is swapped.
      const ctx = { ...SERVER_TLS_OPTIONS, cert: next.cert, key: next.key, ...(next.ca ? { ca: next.ca } : {}), ...(next.crl ? { crl: next.crl } : {}) };
      nodeTls().createSecureContext(ctx);
      l.server.setSecureContext(ctx);
    } catch (err) {
      const error =
        (err as GatehouseError).code === this.kind.code
          ? (err as GatehouseError)
          : tlsError(this.kind, l.name, `the new files do not load (${errorMessage(err)}); the running certificate is kept`, where, err);
      log.error({ listener: l.name, err: errorMessage(error) }, 'TLS reload refused: the listener keeps serving its running certificate');
      return { ...this.done(l, 'refused'), error };
    }
    l.material = next;
    l.crls = crls;
    // a changed CRL (or CA bundle) may revoke clients connected now: checked once at their handshake
    if (crls && (changed.includes('crl') || changed.includes('ca'))) this.deps.onCrlReloaded?.(l.name, crls.list);
    const notAfter = certificateNotAfter(next.cert);
    log.info(
      { listener: l.name, changed, notAfter: notAfter?.toISOString() },
      'TLS certificate reloaded: new connections get it, connected clients keep theirs',
    );
    return this.done(l, 'reloaded');
  }

  private done(l: TlsListener, outcome: TlsReloadOutcome['outcome']): TlsReloadOutcome {
    this.reloads.inc({ listener: l.name, outcome });
    const notAfter = this.watchExpiry(l);
    return notAfter ? { listener: l.name, outcome, notAfter: notAfter.toISOString() } : { listener: l.name, outcome };
  }

  /** Set the listener's expiry gauge and entry, and warn when its certificate is near or past its notAfter. */
  private watchExpiry(l: TlsListener): Date | undefined {
    this.crlWatch?.check(l);
    const validity = certificateValidity(l.material.cert);
    if (validity === undefined) {
      this.entries.delete(l.name);
      return undefined;
    }
    const { notAfter } = validity;
    this.expiry.set({ listener: l.name }, Math.floor(notAfter.getTime() / 1000));
    const { state, leftMs: left } = expiryState(validity, this.deps.now());
    const fix = 'renew it, write the new files and run `systemctl reload gatehouse` (SIGHUP): no restart needed';
    const what =
      this.kind === ADMIN_TLS
        ? 'the certificate the admin API serves'
        : this.kind.kind === 'source'
          ? `the certificate ${this.kind.sourceKind ?? 'source'} '${l.name}' serves`
          : `the certificate listener ${l.name} serves`;
    const entry: CertExpiryEntry = {
      use: 'served',
      kind: this.kind.kind,
      connection: l.name,
      file: l.files.cert,
      where: `${this.kind.where(l.index)}.cert`,
      notAfter: notAfter.toISOString(),
      state,
    };
    this.entries.set(l.name, state === 'ok' ? entry : { ...entry, message: expiryLine({ what, file: l.files.cert }, notAfter, state, left), fix });
    if (state === 'expired') {
      this.deps.logger.error(
        { listener: l.name, notAfter: notAfter.toISOString(), file: l.files.cert, fix },
        'TLS certificate has expired: clients that check it refuse to connect',
      );
    } else if (state === 'expiring') {
      this.deps.logger.warn(
        {
          listener: l.name,
          notAfter: notAfter.toISOString(),
          daysLeft: Math.floor(left / DAY_MS),
          hoursLeft: Math.floor(left / 3_600_000),
          file: l.files.cert,
          fix,
        },
        'TLS certificate expires soon',
      );
    }
    return notAfter;
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b);
}
