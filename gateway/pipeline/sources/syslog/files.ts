// The files a syslog source names (its TLS certificates, keys and CA bundle): resolved against the config
// file's folder and checked by check-config, as an http source's (../http/files.ts). Without zod.
import type { NamedFile } from '../http/files.js';

export function syslogSourceFiles(src: Record<string, unknown>): NamedFile[] {
  if (src.type !== 'syslog') return [];
  const out: NamedFile[] = [];
  const relp = src.relp as Record<string, unknown> | undefined;
  // the tls listener's files, and the relp listener's when it serves TLS
  const blocks: Array<[Record<string, unknown> | undefined, string, string]> = [
    [src.tls as Record<string, unknown> | undefined, 'tls', 'of the syslog source'],
    [relp?.tls as Record<string, unknown> | undefined, 'relp.tls', "of the syslog source's relp listener"],
  ];
  for (const [tls, path, whose] of blocks) {
    if (!tls) continue;
    if (typeof tls.cert === 'string') out.push({ holder: tls, key: 'cert', path: `${path}.cert`, what: `the TLS certificate ${whose}` });
    if (typeof tls.key === 'string') out.push({ holder: tls, key: 'key', path: `${path}.key`, what: `the TLS private key ${whose}` });
    if (typeof tls.ca === 'string') out.push({ holder: tls, key: 'ca', path: `${path}.ca`, what: `the CA bundle of the senders' certificates ${whose}` });
  }
  return out;
}
