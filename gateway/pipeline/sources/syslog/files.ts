// The files a syslog source names (its TLS certificate and key): resolved against the config
// file's folder and checked by check-config, as an http source's (../http/files.ts). Without zod.
import type { NamedFile } from '../http/files.js';

export function syslogSourceFiles(src: Record<string, unknown>): NamedFile[] {
  if (src.type !== 'syslog') return [];
  const tls = src.tls as Record<string, unknown> | undefined;
  const out: NamedFile[] = [];
  if (tls && typeof tls.cert === 'string') out.push({ holder: tls, key: 'cert', path: 'tls.cert', what: 'the TLS certificate of the syslog source' });
  if (tls && typeof tls.key === 'string') out.push({ holder: tls, key: 'key', path: 'tls.key', what: 'the TLS private key of the syslog source' });
  return out;
}
