// `gatehouse errors`: the error code catalogue (also in docs/errors.md).
import { ERROR_CODES } from '../../core/errors.js';
import { writeLine, type CliIO } from './io.js';

export async function runErrors(argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help')) {
    writeLine(io.stdout, 'usage: gatehouse errors [--markdown]\nLists every GatehouseError code and its meaning.');
    return 0;
  }
  const md = argv.includes('--markdown');
  if (md) writeLine(io.stdout, '| code | meaning |\n|---|---|');
  for (const [code, meaning] of Object.entries(ERROR_CODES)) writeLine(io.stdout, md ? `| \`${code}\` | ${meaning} |` : `${code.padEnd(24)} ${meaning}`);
  return 0;
}
