// What `gatehouse check-config` says of the certificates a configuration names: each one's notAfter
// (the served ones: broker listeners, http sources and the admin API; the upstream ones: client certificates and
// CA bundles, config/client-certs.ts; and those of the rule set's upstream actions), and a warning for one near or past it, by the rule the
// running gateway warns with (core/cert-expiry.ts). Never a problem: a wrong clock must not fail
// the check (nor the start).
import { readFileSync } from 'node:fs';
import type { GatehouseConfig } from '../config/index.js';
import { listenerName } from '../broker/options.js';
import { describeLeft, earliestValidity, expiryState } from '../../core/cert-expiry.js';
import { clientCertificates, ruleActionCertificates } from '../config/client-certs.js';
import type { RuleSetDefinition } from '../../rules/index.js';
import { RENEW_FIX, expiryLine } from '../upstream/cert-watch.js';

export interface CertLines {
  /** One line per certificate read: what it is, its file, its notAfter. */
  info: string[];
  /** One per certificate near or past its notAfter. */
  warnings: string[];
}

/**
 * The lines for every certificate file of `config` and of the upstream actions of `rules` (the
 * rule set it runs) that reads (a missing one is already a problem of the check).
 */
export function certificateLines(config: GatehouseConfig, rules?: RuleSetDefinition, now = Date.now()): CertLines {
  const served = [
    ...config.broker.listeners.flatMap((l, i) =>
      l.tls ? [{ what: `the certificate listener ${listenerName(config.broker.listeners, i)} serves`, file: l.tls.cert }] : [],
    ),
    ...((config.sources ?? []) as Array<{ type?: string; name?: string; enabled?: boolean; tls?: { cert?: unknown } }>).flatMap((s) =>
      (s.type === 'http' || s.type === 'syslog') && s.enabled !== false && typeof s.tls?.cert === 'string'
        ? [{ what: `the certificate ${s.type} source '${s.name}' serves`, file: s.tls.cert }]
        : [],
    ),
    ...((config.sources ?? []) as Array<{ type?: string; name?: string; enabled?: boolean; relp?: { tls?: { cert?: unknown } } }>).flatMap((s) =>
      s.type === 'syslog' && s.enabled !== false && typeof s.relp?.tls?.cert === 'string'
        ? [{ what: `the certificate the relp listener of syslog source '${s.name}' serves`, file: s.relp.tls.cert }]
        : [],
    ),
    ...(config.admin.tls ? [{ what: 'the certificate the admin API serves', file: config.admin.tls.cert }] : []),
  ];
  const upstream = [...clientCertificates(config).filter((c) => !c.optional), ...ruleActionCertificates(rules)];
  const out: CertLines = { info: [], warnings: [] };
  for (const c of [...served, ...upstream]) {
    let v: ReturnType<typeof earliestValidity>;
    try {
      v = earliestValidity(readFileSync(c.file));
    } catch {
      continue;
    }
    if (v === undefined) continue;
    const { state, leftMs } = expiryState(v, now);
    out.info.push(
      `${c.what} (${c.file}) ${state === 'expired' ? 'expired on' : 'is valid until'} ${v.notAfter.toISOString()} (${describeLeft(leftMs)})${v.count > 1 ? `, the first to expire of its ${v.count}` : ''}`,
    );
    if (state !== 'ok') out.warnings.push(`${expiryLine(c, v.notAfter, state, leftMs)}. Fix: ${RENEW_FIX}`);
  }
  return out;
}
