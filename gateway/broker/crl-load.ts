// A listener's CRL file (tls.crl) loaded, at start and at each SIGHUP (tls-reload.ts), and its
// nextUpdate watched: past it OpenSSL refuses every certificate of the CRL's CA
// (CRL_HAS_EXPIRED), so it is a gauge and a warning before, an error after, as a served
// certificate's notAfter. Never enforced here: OpenSSL already does at every handshake.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from '../../core/prom-client.js';
import { ERRORS } from '../../core/errors.js';
import { DAY_MS, describeLeft, expiryState } from '../../core/cert-expiry.js';
import { firstToExpire, readCrls, type ParsedCrl } from './crl.js';

export interface LoadedCrls {
  list: ParsedCrl[];
  /** CAs of tls.ca with no CRL in the file (subjects). */
  unrevoked: string[];
}

/** The CRLs of `material.crl`, read and checked against its CA bundle; undefined without one. Throws GH_BROKER_TLS naming tls.crl. */
export function loadCrls(material: { crl?: Buffer; ca?: Buffer }, listener: string, where: string): LoadedCrls | undefined {
  if (!material.crl) return undefined;
  try {
    const { crls, unrevoked } = readCrls(material.crl, material.ca);
    return { list: crls, unrevoked };
  } catch (err) {
    throw ERRORS.GH_BROKER_TLS(
      { listener, reason: `tls.crl: ${(err as Error).message}` },
      { where: `${where}.crl`, hint: 'tls.crl must be the PEM CRL(s) of the CA(s) in tls.ca (`openssl ca -gencrl -out crl.pem`)', cause: err },
    );
  }
}

interface CrlListener {
  name: string;
  files: { crl?: string | undefined };
  crls?: LoadedCrls | undefined;
}

/** The gauge and the log lines of the listeners' CRLs. */
export class CrlWatch {
  private readonly gauge: Gauge<'listener'>;
  /** Each loaded file's missing CRLs said once, not at each daily check. */
  private readonly told = new WeakSet<LoadedCrls>();

  constructor(private readonly deps: { logger: Logger; registry: Registry; now: () => number }) {
    this.gauge = new Gauge({
      name: 'gatehouse_broker_tls_crl_next_update_timestamp_seconds',
      help: "nextUpdate of a TLS listener's CRL that comes first (tls.crl; epoch seconds): past it every client certificate of its CA fails the handshake; renew the CRL before and reload",
      labelNames: ['listener'],
      registers: [deps.registry],
    });
  }

  /** At start, at each reload and once a day. */
  check(l: CrlListener): void {
    const crls = l.crls;
    if (!crls) return;
    const log = this.deps.logger;
    if (!this.told.has(crls)) {
      this.told.add(crls);
      const revoked = crls.list.reduce((n, c) => n + c.revoked.size, 0);
      log.info(
        { listener: l.name, file: l.files.crl, crls: crls.list.length, revoked },
        'TLS listener CRL loaded: revoked client certificates fail the handshake',
      );
      for (const ca of crls.unrevoked) {
        log.warn(
          { listener: l.name, file: l.files.crl, ca },
          'a CA of tls.ca has no CRL in tls.crl: every client certificate it issues itself fails the handshake (UNABLE_TO_GET_CRL); a root that only issues intermediate CAs needs none',
        );
      }
    }
    const first = firstToExpire(crls.list);
    if (!first?.nextUpdate) return;
    const nextUpdate = first.nextUpdate;
    this.gauge.set({ listener: l.name }, Math.floor(nextUpdate.getTime() / 1000));
    const { state, leftMs } = expiryState({ notBefore: first.thisUpdate, notAfter: nextUpdate }, this.deps.now());
    const at = { listener: l.name, file: l.files.crl, ca: first.issuerName, nextUpdate: nextUpdate.toISOString(), fix: CRL_FIX };
    if (state === 'expired')
      log.error(
        at,
        `TLS listener CRL is past its nextUpdate (${describeLeft(leftMs)}): every client certificate of its CA fails the handshake (CRL_HAS_EXPIRED)`,
      );
    else if (state === 'expiring')
      log.warn({ ...at, daysLeft: Math.floor(leftMs / DAY_MS), hoursLeft: Math.floor(leftMs / 3_600_000) }, 'TLS listener CRL reaches its nextUpdate soon');
  }
}

export const CRL_FIX = 'issue a new CRL (`openssl ca -gencrl`), write it to tls.crl and run `systemctl reload gatehouse` (SIGHUP)';
