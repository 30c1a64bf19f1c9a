// scrypt password hashes for broker users, self-describing so parameters can change later:
//   scrypt$N$r$p$<salt base64>$<hash base64>
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;
const SALT_BYTES = 16;

/** Hash a password for the config file (`gatehouse passwd`). Synchronous: a CLI/one-off call. */
export function hashPassword(plain: string): string {
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(plain, salt, KEYLEN, { N, r: R, p: P, maxmem: 128 * N * R * 2 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface Parsed {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(stored: string): Parsed | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const n = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  // Bounds keep a hostile or mistyped config from asking for gigabytes of memory per login.
  if (!Number.isInteger(n) || n < 2 || n > 1 << 20 || (n & (n - 1)) !== 0) return undefined;
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || hash.length < 16) return undefined;
  return { n, r, p, salt, hash };
}

/** Check a password against a stored hash in constant time; false for a malformed hash. */
export function verifyPassword(plain: string | Buffer, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(plain, h.salt, h.hash.length, { N: h.n, r: h.r, p: h.p, maxmem: 128 * h.n * h.r * 2 }, (err, got) => {
      resolve(!err && timingSafeEqual(got, h.hash));
    });
  });
}

/** Hash used to spend the same time on unknown user names as on known ones (no user enumeration by timing). */
export const DUMMY_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(SALT_BYTES).toString('base64')}$${Buffer.alloc(KEYLEN).toString('base64')}`;
