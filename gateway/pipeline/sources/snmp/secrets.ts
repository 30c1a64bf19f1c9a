// Communities and SNMPv3 passphrases read from their files (first line; a community file of the
// trap listener: one per line), at the source's creation, with GH_CONFIG_INVALID naming the key.
import { readFileSync } from 'node:fs';
import { GatehouseError } from '../../../../core/errors.js';

function lines(file: string, where: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, {
      where,
      hint: 'check the path (relative to the config file) and that the gateway user may read it',
      cause: err,
    });
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

/** The first line of `file`; `min`: shortest taken (a v3 passphrase: 8, RFC 3414). */
export function readSecret(file: string, where: string, min = 1): string {
  const first = lines(file, where)[0] ?? '';
  if (first.length < min)
    throw new GatehouseError('GH_CONFIG_INVALID', `the secret in ${file} is ${first.length === 0 ? 'empty' : `shorter than ${min} characters`}`, {
      where,
      hint: min > 1 ? 'an SNMPv3 passphrase has 8 characters or more (RFC 3414)' : 'write the community on the first line',
    });
  return first;
}

/** Every community in `file`, one per line (# comments and blank lines skipped). */
export function readCommunities(file: string, where: string): string[] {
  const out = lines(file, where);
  if (out.length === 0) throw new GatehouseError('GH_CONFIG_INVALID', `no community in ${file}`, { where, hint: 'write one community per line' });
  return out;
}
