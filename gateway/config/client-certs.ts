// Every certificate the gateway presents or trusts for a connection it makes, as the configuration
// names them: the exporters' destinations (mqtt: caFile and certFile; nats: tls.caFile and
// tls.certFile; http, kinesis, firehose, s3: caFile), the MQTT sources' (caFile, certFile), the
// OPC UA sources' (the user certificate of a certificate login, and the application certificate
// node-opcua made in the PKI folder, once it is there) and the control channel's (control.upstream.ca
// and cert). cert-watch.ts watches their expiry; check-config prints it. The upstream rule actions
// (mqtt, nats, http, kinesis, firehose, s3) of a rule set name their own destination's files:
// ruleActionCertificates, watched as the running set changes.
//
// One entry per file and use: a label set per configured connection or rule action (bounded by
// the config and the rule set).
import { join } from 'node:path';
import type { ClientCertificate, CertUse, ConnectionKind } from '../upstream/cert-watch.js';
import { UPSTREAM_ACTION_KINDS, destinationBlock } from '../pipeline/actions/upstream.js';
import type { ActionConfig, RuleSetDefinition } from '../../rules/index.js';
import { destinationFiles } from './checks.js';
import type { GatehouseConfig } from './index.js';

function whose(kind: Exclude<ConnectionKind, 'rule'>, connection: string): string {
  return kind === 'control' ? 'the control channel' : `${kind} '${connection}'`;
}

function entry(use: CertUse, kind: Exclude<ConnectionKind, 'rule'>, connection: string, file: string, where: string, optional = false): ClientCertificate {
  const what = `the ${use === 'client' ? 'client certificate' : 'CA bundle'} of ${whose(kind, connection)}`;
  return { use, kind, connection, file, where, what, ...(optional ? { optional } : {}) };
}

/** The certificates of the configuration's upstream connections (enabled sources only), in config order. */
export function clientCertificates(config: GatehouseConfig): ClientCertificate[] {
  const out: ClientCertificate[] = [];
  for (const [i, e] of (config.exporters ?? []).entries()) {
    for (const f of destinationFiles(e.destination as Record<string, unknown>)) {
      const use = /(^|\.)caFile$/.test(f.path) ? 'ca' : /(^|\.)certFile$/.test(f.path) ? 'client' : undefined;
      if (use) out.push(entry(use, 'exporter', e.name, f.holder[f.key] as string, `exporters.${i}.destination.${f.path}`));
    }
  }
  for (const [i, s] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (s.enabled === false) continue;
    const name = String(s.name);
    const at = `sources.${i}`;
    if (s.type === 'mqtt') {
      if (typeof s.caFile === 'string') out.push(entry('ca', 'source', name, s.caFile, `${at}.caFile`));
      if (typeof s.certFile === 'string') out.push(entry('client', 'source', name, s.certFile, `${at}.certFile`));
    } else if (s.type === 'opcua') {
      const auth = s.auth as { type?: string; certFile?: string } | undefined;
      if (auth?.type === 'certificate' && typeof auth.certFile === 'string') out.push(entry('client', 'source', name, auth.certFile, `${at}.auth.certFile`));
      // The application certificate node-opcua makes on the first connect (connect.ts), in the PKI folder.
      const pki = typeof s.pkiDir === 'string' ? s.pkiDir : join(config.dataDir, 'opcua', 'pki');
      const own = entry('client', 'source', name, join(pki, 'own', 'certs', 'client_certificate.pem'), `${at}.pkiDir`, true);
      // Two certificates the source presents: the user's (auth) and the application's; one label set each.
      out.push({ ...own, use: 'client', connection: `${name}/application`, what: `the OPC UA application certificate of source '${name}'` });
    }
  }
  const up = config.control.upstream;
  if (up?.ca !== undefined) out.push(entry('ca', 'control', 'upstream', up.ca, 'control.upstream.ca'));
  if (up?.cert !== undefined) out.push(entry('client', 'control', 'upstream', up.cert, 'control.upstream.cert'));
  return out;
}

/**
 * The certificates the upstream actions of a rule set name (undefined: none), in rule order: each
 * labelled kind 'rule', connection '<rule>/actions.<i>.<kind>' ('<rule>/errorAction.<kind>'), its
 * key path in the set (rules.<n>.actions.<i>.mqtt.certFile). An action whose options are refused
 * is skipped: it never runs (the set is refused with it).
 */
export function ruleActionCertificates(set: RuleSetDefinition | undefined): ClientCertificate[] {
  const out: ClientCertificate[] = [];
  for (const [n, rule] of (set?.rules ?? []).entries()) {
    const actions: Array<[at: string, action: ActionConfig]> = rule.actions.map((a, i) => [`actions.${i}`, a]);
    if (rule.errorAction) actions.push(['errorAction', rule.errorAction]);
    for (const [at, action] of actions) {
      for (const [kind, options] of Object.entries(action)) {
        if (!(UPSTREAM_ACTION_KINDS as readonly string[]).includes(kind) || !options || typeof options !== 'object') continue;
        let block: Record<string, unknown>;
        try {
          block = destinationBlock(kind as (typeof UPSTREAM_ACTION_KINDS)[number], options);
        } catch {
          continue; // refused options
        }
        for (const f of destinationFiles(block)) {
          const use = /(^|\.)caFile$/.test(f.path) ? 'ca' : /(^|\.)certFile$/.test(f.path) ? 'client' : undefined;
          if (!use) continue;
          const what = `the ${use === 'client' ? 'client certificate' : 'CA bundle'} of the ${kind} action at ${at} of rule '${rule.name}'`;
          out.push({
            use,
            kind: 'rule',
            connection: `${rule.name}/${at}.${kind}`,
            file: f.holder[f.key] as string,
            where: `rules.${n}.${at}.${kind}.${f.path}`,
            what,
          });
        }
      }
    }
  }
  return out;
}
