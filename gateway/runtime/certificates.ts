// The certificates a running gateway watches for expiry (upstream/cert-watch.ts): those its
// configuration names (config/client-certs.ts clientCertificates) and those of the running rule
// set's upstream actions (ruleActionCertificates), swapped at each rule set install (a remote
// update, the admin API, a SIGHUP, a rollback) as the rule action exporters are.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../core/errors.js';
import { CertWatch } from '../upstream/cert-watch.js';
import { clientCertificates, ruleActionCertificates } from '../config/client-certs.js';
import type { GatehouseConfig } from '../config/index.js';
import type { RuleHost } from '../pipeline/rule-host.js';

/** The watch, started (its first reading done), following the rule host's installs. */
export async function watchCertificates(config: GatehouseConfig, rules: RuleHost, deps: { logger: Logger; registry: Registry }): Promise<CertWatch> {
  const log = deps.logger.child({ c: 'tls' });
  const certs = new CertWatch(clientCertificates(config), { logger: log, registry: deps.registry, now: Date.now });
  await certs.setRuleCertificates(ruleActionCertificates(rules.activeDefinition()));
  await certs.start();
  // Every install, refusal and rollback is a 'status' (the running set may be another one now).
  rules.on(
    'status',
    () =>
      void certs
        .setRuleCertificates(ruleActionCertificates(rules.activeDefinition()))
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, "certificate expiry: the rule actions' certificates not read")),
  );
  return certs;
}
