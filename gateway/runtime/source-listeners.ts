// Where the configured network sources listen (http sources' URLs, syslog sources' udp/tcp/tls/relp
// addresses, snmp sources' trap ports), with the ports a port 0 took, read from their status: for
// the "gatehouse started" log line and systemd's STATUS= line (service-status.ts).
import type { SourceStatus } from '../pipeline/contract.js';

export interface SourceListeners {
  http?: Array<{ name: string; url: string | undefined }>;
  syslog?: Array<{ name: string } & Record<string, string>>;
  snmpTraps?: Array<{ name: string; udp: string }>;
}

export function sourceListeners(statuses: readonly SourceStatus[]): SourceListeners {
  const out: SourceListeners = {};
  const http = statuses.flatMap((s) => (s.kind === 'http' && !s.builtIn ? [{ name: s.name, url: (s.details as { url?: string } | undefined)?.url }] : []));
  const syslog = statuses.flatMap((s) =>
    s.kind === 'syslog' ? [{ ...(s.details as { listening?: Record<string, string> } | undefined)?.listening, name: s.name }] : [],
  );
  const snmpTraps = statuses.flatMap((s) => {
    const traps = s.kind === 'snmp' ? (s.details as { traps?: { listening?: string | null } | null } | undefined)?.traps : undefined;
    return traps?.listening ? [{ name: s.name, udp: traps.listening }] : [];
  });
  if (http.length > 0) out.http = http;
  if (syslog.length > 0) out.syslog = syslog;
  if (snmpTraps.length > 0) out.snmpTraps = snmpTraps;
  return out;
}

/** The same as words: `syslog cabinet on udp 127.0.0.1:5514, relp 127.0.0.1:2514; http devices on http://...`. */
export function sourceListenerWords(l: SourceListeners): string[] {
  const words: string[] = [];
  for (const h of l.http ?? []) if (h.url) words.push(`http source ${h.name} on ${h.url}`);
  for (const { name, ...at } of l.syslog ?? []) {
    const where = Object.entries(at).map(([transport, address]) => `${transport} ${address}`);
    if (where.length > 0) words.push(`syslog source ${name} on ${where.join(', ')}`);
  }
  for (const t of l.snmpTraps ?? []) words.push(`snmp traps of ${t.name} on udp ${t.udp}`);
  return words;
}
