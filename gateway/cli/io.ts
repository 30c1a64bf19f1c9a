// CLI plumbing shared by every subcommand.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../../core/closest-name.js';
import { GatehouseError } from '../../core/errors.js';

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export type Command = (argv: string[], io: CliIO) => Promise<number>;

/** parseArgs with strict checking, turning its errors into GH_ARG_INVALID with the usage line. */
export function parseCliArgs<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    throw new GatehouseError('GH_ARG_INVALID', withOptionGuess((err as Error).message, Object.keys(options)), { hint: `usage: ${usage}` });
  }
}

/**
 * An unknown option named with the one it is nearest to, as a misspelt config key is: node's
 * "Unknown option '--confg'" left the user to compare it letter by letter with the usage line.
 */
function withOptionGuess(message: string, names: string[]): string {
  const m = /^Unknown option '--?([^']+)'/.exec(message);
  if (!m) return message;
  const guess = closestName(m[1]!, names);
  if (guess === undefined) return message;
  const flag = guess.length === 1 ? `-${guess}` : `--${guess}`;
  return message.replace(/^(Unknown option '[^']+')/, `$1 (did you mean ${flag}?)`);
}

/** Parse a flag value as a TCP port. */
export function portArg(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new GatehouseError('GH_ARG_INVALID', `${flag} must be a port number 0-65535, got '${value}'`, { hint: `e.g. ${flag} 1883` });
  }
  return n;
}

export function writeLine(stream: NodeJS.WritableStream, line: string): void {
  stream.write(`${line}\n`);
}

/** '1 record', '2 records': a count with its noun (the CLI said '1 records held', '1 attempts'). */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
