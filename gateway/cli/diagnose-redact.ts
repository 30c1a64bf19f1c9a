// What `gatehouse diagnose` takes out of the configuration before it is printed, and out of every
// other section (logs, metrics, the admin API's answers) as a backstop.
//
// The configuration's schema marks no option as secret, so a key is secret by its name: passwords,
// tokens, keys, communities, credentials (SECRET_KEY), whatever section it is in (a destination,
// a source, a rule action, the proxy), and every value of a `headers` map (an Authorization header
// written there is a credential whatever its name says). A key naming a file (`passwordFile`,
// `tokenFile`, `keyFile`, `credsFile`, TLS `key`/`cert` paths) keeps its path: the path says where
// to look, and the file itself is never read. Values are checked too: a PEM private key written
// inline, or a URL with a password or a token in its query, are redacted wherever they are. The
// schema guards the names: test/unit/diagnose-redact.test.ts walks every key of the configuration
// and destination schemas and fails on a key that looks like a secret and is neither redacted here
// nor listed there as a path or a public value, so a new option is classified when it is added.
//
// Whatever was redacted is also kept as a string to scrub (scrubber()): the same secret met in a
// log line or an admin API answer is replaced there too.

export const REDACTED = '<redacted>';

/** Key names whose value is a secret (case-insensitive, the whole name or its end). */
const SECRET_KEY =
  /(^|_|[a-z])(password|passwd|passphrase|secret|secretAccessKey|accessKeyId|accessKey|sessionToken|token|apiKey|privateKey|privKey|authKey|community|communities|credentials?|sha256|psk|bearer|signingKey|connectionString)$/i;
/** Key names that hold a path to a file (its contents never read), or a public value: shown. */
const PATH_KEY = /(File|Files|Path|Dir)$/;
/** A map whose every value is a secret. */
const SECRET_MAP_KEY = /^headers$/i;
/** A PEM private key written inline. */
const PRIVATE_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** Query parameters of a URL that carry a credential. */
const SECRET_QUERY =
  /^(token|access_token|auth|key|apikey|api_key|password|pass|secret|sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|code)$/i;

/** Whether `key` names a secret (and not a file holding one). */
export function isSecretKey(key: string): boolean {
  if (PATH_KEY.test(key)) return false;
  return SECRET_KEY.test(key);
}

/** A URL with its password and credential-bearing query values replaced; anything else as it was. */
export function redactUrl(text: string): { text: string; secrets: string[] } {
  const secrets: string[] = [];
  // Every URL-like run inside the text (a log line may hold several).
  const out = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (m) => {
    let u: URL;
    try {
      u = new URL(m);
    } catch {
      return m;
    }
    let changed = false;
    if (u.password) {
      secrets.push(decodeURIComponent(u.password));
      u.password = 'redacted';
      changed = true;
    }
    for (const [k, v] of [...u.searchParams]) {
      if (SECRET_QUERY.test(k) && v !== '') {
        secrets.push(v);
        u.searchParams.set(k, 'redacted');
        changed = true;
      }
    }
    return changed ? u.toString() : m;
  });
  return { text: out, secrets };
}

export interface Redacted<T> {
  value: T;
  /** The secret strings taken out (for the scrubber). */
  secrets: string[];
  /** Where: key paths ("exporters[0].destination.secretAccessKey"), for the section's footer. */
  paths: string[];
}

function collectStrings(v: unknown, into: string[]): void {
  if (typeof v === 'string' || typeof v === 'number') into.push(String(v));
  else if (Array.isArray(v)) for (const x of v) collectStrings(x, into);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collectStrings(x, into);
}

/** A deep copy of a parsed configuration document with every secret replaced by REDACTED. */
export function redactConfig<T>(doc: T): Redacted<T> {
  const secrets: string[] = [];
  const paths: string[] = [];
  const walk = (v: unknown, path: string, key: string | undefined): unknown => {
    if (key !== undefined && isSecretKey(key) && v !== null && v !== undefined && v !== '') {
      collectStrings(v, secrets);
      paths.push(path);
      return REDACTED;
    }
    if (key !== undefined && SECRET_MAP_KEY.test(key) && v && typeof v === 'object' && !Array.isArray(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        collectStrings(x, secrets);
        paths.push(`${path}.${k}`);
        out[k] = REDACTED;
      }
      return out;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, undefined));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, path ? `${path}.${k}` : k, k);
      return out;
    }
    if (typeof v === 'string') {
      if (PRIVATE_PEM.test(v)) {
        secrets.push(v);
        paths.push(path);
        return REDACTED;
      }
      const u = redactUrl(v);
      if (u.secrets.length > 0) {
        secrets.push(...u.secrets);
        paths.push(path);
        return u.text;
      }
    }
    return v;
  };
  return { value: walk(doc, '', undefined) as T, secrets, paths };
}

/**
 * A function that takes every known secret (and URL credentials) out of any text: the backstop
 * for the sections the configuration walk does not cover. Secrets shorter than 4 characters are
 * not scrubbed from free text (a PIN "12" would blank every 12 of a log); they are redacted in
 * the configuration by key all the same.
 */
export function scrubber(secrets: readonly string[]): (text: string) => string {
  const known = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = redactUrl(text).text;
    for (const s of known) if (out.includes(s)) out = out.split(s).join(REDACTED);
    // A bearer token in a logged header, whatever its value.
    return out.replace(/\b(authorization["']?\s*[:=]\s*["']?)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1$2 ${REDACTED}`);
  };
}
