// What `gatehouse check-config` says of each mutual-TLS broker listener: the identity its client
// certificates give (tls.identity), and its CRL file (tls.crl): how many CRLs and revoked
// certificates, the first nextUpdate, a warning when that is near or past (every certificate of
// the CRL's CA then fails the handshake) and for a CA of tls.ca without a CRL. A file that does
// not load is already a problem of the check; a date is never one (a wrong clock must not fail it).
import { readFileSync } from 'node:fs';
import type { GatehouseConfig } from '../config/index.js';
import { listenerName } from '../broker/options.js';
import { describeLeft, expiryState } from '../../core/cert-expiry.js';
import { CRL_FIX, loadCrls } from '../broker/crl-load.js';
import { firstToExpire } from '../broker/crl.js';

export function mutualTlsLines(config: GatehouseConfig, now = Date.now()): { info: string[]; warnings: string[] } {
  const out = { info: [] as string[], warnings: [] as string[] };
  config.broker.listeners.forEach((l, i) => {
    const t = l.tls;
    if (!t?.requestCert) return;
    const name = listenerName(config.broker.listeners, i);
    out.info.push(
      t.identity === 'none'
        ? `listener ${name} takes client certificates of ${t.ca}; a client without a user name is anonymous to the ACL (tls.identity: none)`
        : `listener ${name} takes client certificates of ${t.ca}; a client's user name is its certificate's ${t.identity === 'cn' ? 'CN' : 'subject'} (tls.identity: ${t.identity})${t.clientIdMustMatchIdentity ? ', and its client id must be it' : ''}`,
    );
    if (!t.crl) return;
    let crls: ReturnType<typeof loadCrls>;
    try {
      const ca = t.ca ? readFileSync(t.ca) : undefined;
      crls = loadCrls({ crl: readFileSync(t.crl), ...(ca ? { ca } : {}) }, name, `broker.listeners.${i}.tls`);
    } catch {
      return;
    }
    if (!crls) return;
    const revoked = crls.list.reduce((n, c) => n + c.revoked.size, 0);
    const first = firstToExpire(crls.list);
    const state = first?.nextUpdate ? expiryState({ notBefore: first.thisUpdate, notAfter: first.nextUpdate }, now) : undefined;
    const when = first?.nextUpdate && state ? `, next update ${first.nextUpdate.toISOString()} (${describeLeft(state.leftMs)})` : ', no next update';
    out.info.push(`listener ${name}'s CRL file (${t.crl}): ${crls.list.length} CRL(s), ${revoked} revoked certificate(s)${when}`);
    if (state && state.state !== 'ok')
      out.warnings.push(
        `listener ${name}'s CRL of ${first!.issuerName} (${t.crl}) ${state.state === 'expired' ? 'is past its nextUpdate: every client certificate of that CA fails the handshake' : `reaches its nextUpdate ${describeLeft(state.leftMs)}`}. Fix: ${CRL_FIX}`,
      );
    for (const ca of crls.unrevoked)
      out.warnings.push(
        `listener ${name}: CA ${ca} of tls.ca has no CRL in ${t.crl}: a client certificate it issues itself fails the handshake (UNABLE_TO_GET_CRL); a root CA that only issues intermediates needs none`,
      );
  });
  return out;
}
