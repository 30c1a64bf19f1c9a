// Run a CLI command in-process as a user would in a shell, capturing what it writes: its exit code,
// stdout and stderr. `run` is the CLI's `main` or one command's entry (`runRules`, `runJobs`...).
import { PassThrough } from 'node:stream';
import type { CliIO } from '../../gateway/cli/io.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function runCaptured(run: (argv: string[], io: CliIO) => Promise<number>, argv: string[]): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await run(argv, { stdout, stderr });
  return { code, out, err };
}
