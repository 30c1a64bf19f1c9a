// `gatehouse passwd`: hash a password for broker.users[].password.
import { hashPassword } from '../broker/password.js';
import { GatehouseError } from '../../core/errors.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

const USAGE = 'gatehouse passwd [PASSWORD]   (reads the password from stdin when omitted)';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function runPasswd(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { help: { type: 'boolean', short: 'h' } }, USAGE, true);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nPrints a scrypt hash to put in broker.users[].password. Passing the password as an argument leaves it in shell history: prefer stdin.`,
    );
    return 0;
  }
  // `gatehouse passwd my secret phrase` would hash 'my' alone: the device's password would not match.
  if (positionals.length > 1)
    throw new GatehouseError('GH_ARG_INVALID', `expected one PASSWORD, got ${positionals.length} arguments`, {
      hint: `quote a password with spaces: gatehouse passwd '${positionals.join(' ')}' (or give it on stdin)`,
    });
  const plain = positionals[0] ?? (await readStdin());
  if (!plain) throw new GatehouseError('GH_ARG_INVALID', 'empty password', { hint: USAGE });
  writeLine(io.stdout, hashPassword(plain));
  return 0;
}
