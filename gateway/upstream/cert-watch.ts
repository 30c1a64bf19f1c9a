// The expiry of every certificate the gateway presents or trusts upstream (config/client-certs.ts lists
// them), watched as the served ones are (gateway/broker/tls-reload.ts, core/cert-expiry.ts): read
// at start, at each SIGHUP (a renewal agent runs `systemctl reload gatehouse` after writing the new
// files; the clients take them at their next reconnect: core/tls-files.ts) and once a day; each
// file's notAfter a gauge, gatehouse_tls_cert_expiry_timestamp_seconds{use,kind,connection}, and a
// warning in the log when it is near (14 days, or the last third of a short lifetime) or past.
// attention() lists the near and past ones for /healthz, /api/overview, the status page and
// `gatehouse status`. The upstream rule actions' own destinations (kind 'rule') come and go with
// the running rule set: setRuleCertificates() swaps them, the series of a rule gone removed.
//
// Never enforced (a Pi on a wrong clock until NTP): an expired certificate is still presented, and
// when the server then refuses the handshake, the connection's error says the certificate expired
// (expiredCertificateReason) rather than a bare reset.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from '../../core/prom-client.js';
import { errorMessage } from '../../core/errors.js';
import { DAY_MS, earliestValidity, everyDay, expiryLine, expiryState, oneAtATime, type CertExpiryEntry } from '../../core/cert-expiry.js';

// The entry and the line are the served certificates' too (core/cert-expiry.ts).
export { expiryLine, type CertExpiryEntry } from '../../core/cert-expiry.js';

/** What to do, for every line and status entry about an upstream certificate near or past its date. */
/** The certificates of the upstream connections a configuration names: config/client-certs.ts. */
export type CertUse = 'client' | 'ca';
export type ConnectionKind = 'exporter' | 'source' | 'control' | 'rule';

export interface ClientCertificate {
  /** client: a certificate the gateway presents; ca: a bundle it trusts to verify the server. */
  use: CertUse;
  kind: ConnectionKind;
  /** The exporter's or source's name; 'upstream' for the control channel; '<rule>/actions.<i>.<kind>' for a rule action. */
  connection: string;
  file: string;
  /** The file's key path in the configuration (exporters.0.destination.certFile). */
  where: string;
  /** Who it is, for a person: "the client certificate of exporter 'plant'". */
  what: string;
  /** The file may be absent (the OPC UA application certificate before the first connect): no word about it then. */
  optional?: boolean;
}

export const RENEW_FIX =
  'renew it (a new certificate from its CA), write the new file and run `systemctl reload gatehouse` (SIGHUP): it is used from the next connection on, no restart needed';

export interface CertWatchDeps {
  logger: Logger;
  registry: Registry;
  /** Wall clock (epoch ms): expiry is a calendar date. */
  now: () => number;
}

/** A certificate's series: its labels, one entry each (a rule set replaced keeps the state of an action it kept). */
function keyOf(c: Pick<ClientCertificate, 'use' | 'kind' | 'connection'>): string {
  return `${c.use}\u0000${c.kind}\u0000${c.connection}`;
}

export class CertWatch {
  private readonly gauge: Gauge<'use' | 'kind' | 'connection'>;
  private readonly entries = new Map<string, CertExpiryEntry>();
  /** The running rule set's upstream actions' certificates (config/client-certs.ts ruleActionCertificates). */
  private ruleCerts: readonly ClientCertificate[] = [];
  private daily: { stop(): void } | undefined;
  private started = false;
  /** Checks run one at a time (the daily one, a SIGHUP's, a rule set's). */
  private readonly serial = oneAtATime();

  constructor(
    private readonly certs: readonly ClientCertificate[],
    private readonly deps: CertWatchDeps,
  ) {
    this.gauge = new Gauge({
      name: 'gatehouse_tls_cert_expiry_timestamp_seconds',
      help: 'notAfter (epoch seconds) of a certificate the gateway presents (use="client") or trusts (use="ca": the bundle\'s first to expire) for an upstream connection (kind: exporter, source, control, rule: an upstream rule action\'s own destination); alert before it passes, renew, then reload',
      labelNames: ['use', 'kind', 'connection'],
      registers: [deps.registry],
    });
  }

  /** Read every file, publish the gauges, warn of near and past expiry; again once a day. */
  async start(): Promise<void> {
    this.started = true;
    await this.check();
  }

  stop(): void {
    this.started = false;
    this.daily?.stop();
    this.daily = undefined;
  }

  /** Read the files again (SIGHUP): a renewed certificate's new date, its warning gone. One at a time. */
  check(): Promise<CertExpiryEntry[]> {
    return this.serial(async () => {
      for (const c of this.watched()) this.entries.set(keyOf(c), await this.checkOne(c));
      this.everyDayWhileWatching();
      return [...this.entries.values()];
    });
  }

  /**
   * The certificates of the rule set that runs now (at start, then at each install: a remote
   * update, the admin API, a SIGHUP, a rollback): those of actions no longer there lose their
   * entry and series (no series left for a rule that is gone), the new ones are read. Before
   * start() they are only kept (start reads them).
   */
  setRuleCertificates(certs: readonly ClientCertificate[]): Promise<void> {
    return this.serial(async () => {
      // The new set's read first, then the gone ones' taken off: one step as seen from outside.
      if (this.started) for (const c of certs) this.entries.set(keyOf(c), await this.checkOne(c));
      const next = new Set(certs.map(keyOf));
      for (const old of this.ruleCerts) {
        if (next.has(keyOf(old))) continue;
        this.entries.delete(keyOf(old));
        this.gauge.remove({ use: old.use, kind: old.kind, connection: old.connection });
      }
      this.ruleCerts = certs;
      this.everyDayWhileWatching();
    });
  }

  private watched(): ClientCertificate[] {
    return [...this.certs, ...this.ruleCerts];
  }

  /** The daily check runs while there is something to watch: an idle gateway without certificates has no timer. */
  private everyDayWhileWatching(): void {
    if (this.started && this.watched().length > 0) this.daily ??= everyDay(() => void this.check());
    else {
      this.daily?.stop();
      this.daily = undefined;
    }
  }

  /** Every watched certificate as last read. */
  all(): CertExpiryEntry[] {
    return [...this.entries.values()];
  }

  private async checkOne(c: ClientCertificate): Promise<CertExpiryEntry> {
    const base = { use: c.use, kind: c.kind, connection: c.connection, file: c.file, where: c.where };
    const labels = { use: c.use, kind: c.kind, connection: c.connection };
    let pem: Buffer;
    try {
      pem = await readFile(c.file);
    } catch (err) {
      // A missing file is the connection's own error (check-config, its start); no gauge for it.
      this.gauge.remove(labels);
      if (!c.optional) this.deps.logger.debug({ file: c.file, err: errorMessage(err) }, 'certificate expiry: file not read');
      return { ...base, notAfter: null, state: 'unreadable' };
    }
    const v = earliestValidity(pem);
    if (v === undefined) {
      this.gauge.remove(labels);
      return { ...base, notAfter: null, state: 'unreadable' };
    }
    this.gauge.set(labels, Math.floor(v.notAfter.getTime() / 1000));
    const { state, leftMs } = expiryState(v, this.deps.now());
    const out: CertExpiryEntry = { ...base, notAfter: v.notAfter.toISOString(), subject: v.subject, state };
    if (state === 'ok') {
      const before = this.entries.get(keyOf(c))?.state;
      if (before === 'expiring' || before === 'expired')
        this.deps.logger.info(
          { use: c.use, kind: c.kind, connection: c.connection, file: c.file, notAfter: out.notAfter },
          `TLS certificate renewed: ${c.what}`,
        );
      return out;
    }
    const message = expiryLine(c, v.notAfter, state, leftMs);
    const fields = { use: c.use, kind: c.kind, connection: c.connection, file: c.file, subject: v.subject, notAfter: out.notAfter, fix: RENEW_FIX };
    if (state === 'expired') {
      this.deps.logger.error(
        fields,
        `TLS certificate has expired: ${message}; ${c.use === 'client' ? 'the server refuses the connection' : 'the server certificates it issued no longer verify'}`,
      );
    } else {
      this.deps.logger.warn(
        { ...fields, daysLeft: Math.floor(leftMs / DAY_MS), hoursLeft: Math.floor(leftMs / 3_600_000) },
        `TLS certificate expires soon: ${message}`,
      );
    }
    return { ...out, message, fix: RENEW_FIX };
  }
}
