// The files an http source names (TLS certificate and key, token files): resolved against the
// config file's folder (config/index.ts) and checked by check-config. Without zod: the config
// loader imports it at every start, and the source schemas load only when `sources:` is in the config.

export interface NamedFile {
  /** The object holding the path, and its key there (to resolve it in place). */
  holder: Record<string, unknown>;
  key: string;
  /** Key path under the source entry (tls.cert, auth.tokens.0.tokenFile). */
  path: string;
  what: string;
}

/** The files of one `sources:` entry of type http (any other entry: none). */
export function httpSourceFiles(src: Record<string, unknown>): NamedFile[] {
  if (src.type !== 'http') return [];
  const out: NamedFile[] = [];
  const tls = src.tls as Record<string, unknown> | undefined;
  if (tls && typeof tls.cert === 'string') out.push({ holder: tls, key: 'cert', path: 'tls.cert', what: 'the TLS certificate of the http source' });
  if (tls && typeof tls.key === 'string') out.push({ holder: tls, key: 'key', path: 'tls.key', what: 'the TLS private key of the http source' });
  const tokens = (src.auth as { tokens?: unknown } | undefined)?.tokens;
  if (Array.isArray(tokens))
    for (const [i, t] of tokens.entries()) {
      const token = t as Record<string, unknown>;
      if (typeof token.tokenFile === 'string')
        out.push({ holder: token, key: 'tokenFile', path: `auth.tokens.${i}.tokenFile`, what: 'the token file of the http source' });
    }
  return out;
}
