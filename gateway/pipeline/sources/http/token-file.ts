// A bearer token read from its file (auth.tokens[].tokenFile): its first line, 16+ characters. Read
// at start (the source keeps only its hash) and by check-config (the kind's preflight), with the
// same error, so a short or unreadable token is found before a restart.
import { readFileSync } from 'node:fs';
import { GatehouseError } from '../../../../core/errors.js';

/** The token in `file`; `where` is its key path for the error (sources.<name>.auth.tokens.<i>.tokenFile). */
export function readTokenFile(file: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', `cannot read the token file ${file}: ${(err as Error).message}`, {
      where,
      hint: 'check the path (relative to the config file) and that the gateway user may read it',
      cause: err,
    });
  }
  const token = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (token.length < 16)
    throw new GatehouseError('GH_CONFIG_INVALID', `the token in ${file} is ${token.length === 0 ? 'empty' : 'shorter than 16 characters'}`, {
      where,
      hint: 'write a random token of 16+ characters in it, e.g. `openssl rand -hex 24 > FILE`',
    });
  return token;
}
