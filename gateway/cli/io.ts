// CLI plumbing shared by every subcommand.
import { parseArgs, type ParseArgsConfig } from 'node:util';
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
    throw new GatehouseError('GH_ARG_INVALID', (err as Error).message, { hint: `usage: ${usage}` });
  }
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
