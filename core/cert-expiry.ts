// When a certificate is near or past its notAfter: the one rule for every certificate the gateway
// serves (broker listeners, admin API: gateway/broker/tls-reload.ts) and every one it presents or
// trusts upstream (client certificates, CA bundles: gateway/upstream/cert-watch.ts).
//
// Expiry is watched, never enforced: a Pi without a real-time clock may run on a wrong wall clock
// until NTP steps it, and refusing a good certificate then would lock the gateway out (or, for a
// served one, every device). So the dates only make gauges, warnings and better error messages.
import { X509Certificate } from 'node:crypto';

/**
 * Warn this many days before a certificate's notAfter, or in the last third of its lifetime when
 * that is shorter: a 24 h certificate (step-ca) is renewed every 16 h or so, and warning about it
 * from its first minute would only teach operators to ignore the warning.
 */
export const EXPIRY_WARN_DAYS = 14;
export const DAY_MS = 86_400_000;

export interface Validity {
  notBefore: Date;
  notAfter: Date;
  /** The certificate's subject (one line), to say which certificate of a bundle it is. */
  subject: string;
}

function validityOf(x: X509Certificate): Validity | undefined {
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  if (Number.isNaN(from) || Number.isNaN(to)) return undefined;
  return { notBefore: new Date(from), notAfter: new Date(to), subject: x.subject.replace(/\n/g, ', ') };
}

/** The certificate's validity (the first certificate of a chain file: the leaf), or undefined when it does not parse. */
export function certificateValidity(cert: Buffer | string): { notBefore: Date; notAfter: Date } | undefined {
  try {
    const v = validityOf(new X509Certificate(cert));
    return v && { notBefore: v.notBefore, notAfter: v.notAfter };
  } catch {
    return undefined;
  }
}

/** The certificate's notAfter, or undefined when it does not parse. */
export function certificateNotAfter(cert: Buffer | string): Date | undefined {
  return certificateValidity(cert)?.notAfter;
}

const PEM_CERTS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificate of a PEM file that expires first (a CA bundle, a chain file: when any of them
 * expires the chain no longer verifies, as blackbox_exporter's probe_ssl_earliest_cert_expiry), or
 * undefined when none parses. `count` is how many certificates the file holds.
 */
export function earliestValidity(pem: Buffer | string): (Validity & { count: number }) | undefined {
  let first: Validity | undefined;
  let count = 0;
  for (const block of pem.toString('latin1').match(PEM_CERTS) ?? []) {
    let v: Validity | undefined;
    try {
      v = validityOf(new X509Certificate(block));
    } catch {
      continue;
    }
    if (v === undefined) continue;
    count++;
    if (first === undefined || v.notAfter < first.notAfter) first = v;
  }
  return first && { ...first, count };
}

export type ExpiryState = 'ok' | 'expiring' | 'expired';

/** How a certificate stands at `now` (epoch ms, the wall clock): ok, expiring (in its warning window) or expired. */
export function expiryState(v: { notBefore: Date; notAfter: Date }, now: number): { state: ExpiryState; leftMs: number } {
  const warnMs = Math.min(EXPIRY_WARN_DAYS * DAY_MS, (v.notAfter.getTime() - v.notBefore.getTime()) / 3);
  const leftMs = v.notAfter.getTime() - now;
  return { state: leftMs <= 0 ? 'expired' : leftMs < warnMs ? 'expiring' : 'ok', leftMs };
}

/**
 * A watched certificate as last read, for /healthz, /api/overview, the status page and `gatehouse
 * status`: one list for those the gateway presents or trusts upstream (use client, ca:
 * gateway/upstream/cert-watch.ts) and those it serves (use served: gateway/broker/tls-reload.ts).
 */
export interface CertExpiryEntry {
  /** client: presented upstream; ca: trusted to verify an upstream server; served: a broker listener's, an http source's or the admin API's. */
  use: 'client' | 'ca' | 'served';
  /** exporter, source, control, rule (upstream); listener, source (an http source's tls), admin (served). */
  kind: 'exporter' | 'source' | 'control' | 'rule' | 'listener' | 'admin';
  /** The exporter's, source's, rule action's or listener's name; 'upstream' for the control channel, 'admin' for the admin API. */
  connection: string;
  file: string;
  /** The file's key path in the configuration (exporters.0.destination.certFile, broker.listeners.1.tls.cert). */
  where: string;
  /** The notAfter (ISO) of the certificate of the file that expires first; null when the file does not read or holds none. */
  notAfter: string | null;
  subject?: string;
  state: ExpiryState | 'unreadable';
  /** A person's line: "the client certificate of exporter 'plant' (/etc/...) expires on ... (in 3 day(s))". */
  message?: string;
  fix?: string;
}

/** One line about a certificate near or past its notAfter (log, status, check-config); `what` says whose it is. */
export function expiryLine(c: { what: string; file: string }, notAfter: Date, state: ExpiryState, leftMs: number): string {
  const date = notAfter.toISOString();
  if (state === 'expired') return `${c.what} (${c.file}) expired on ${date} (${describeLeft(leftMs)}, by this gateway's clock)`;
  return `${c.what} (${c.file}) expires on ${date} (${describeLeft(leftMs)})`;
}

/** "in 3 days", "in 5 hours", "2 days ago": how far the notAfter is, for a line a person reads. */
export function describeLeft(leftMs: number): string {
  const abs = Math.abs(leftMs);
  const n =
    abs >= DAY_MS
      ? `${Math.floor(abs / DAY_MS)} day(s)`
      : abs >= 3_600_000
        ? `${Math.floor(abs / 3_600_000)} hour(s)`
        : `${Math.floor(abs / 60_000)} minute(s)`;
  return leftMs > 0 ? `in ${n}` : `${n} ago`;
}

/** Run `check` once a day (unref'd: it never holds the process up); stop() ends it. Certificates are checked at start, at each reload and so. */
export function everyDay(check: () => void): { stop(): void } {
  const timer = setInterval(check, DAY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Runs the works it is given one at a time, in order (two SIGHUPs in a row must not interleave reads and swaps); a failed one does not stop the next. */
export function oneAtATime(): <T>(work: () => Promise<T>) => Promise<T> {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };
}
