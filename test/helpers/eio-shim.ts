// A stand-in for a failing card: test/helpers/eio-shim.c, an LD_PRELOAD shim that fails the reads,
// the writes and flushes, or both, of the files whose path contains a string with EIO while a flag
// file exists. No failing card exists where the tests run. Compiled with gcc at test time, as the
// slow card is (slow-card.ts); a test without gcc skips with eioSkip's reason.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { needBinary, repoRoot } from './index.js';

const run = promisify(execFile);

/** Why an EIO test cannot run here (undefined: it can). */
export const eioSkip: string | undefined = needBinary('gcc', 'gcc');

/** Compile the shim into `dir`; resolves with the .so's path. */
export async function buildEioShim(dir: string): Promise<string> {
  const so = join(dir, 'eio-shim.so');
  await run('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-O2', '-o', so, join(repoRoot, 'test', 'helpers', 'eio-shim.c'), '-ldl']);
  return so;
}

export interface EioFault {
  /** Which calls fail: reads, writes and flushes, or both. */
  ops: 'read' | 'write' | 'read,write';
  /** A call on a file whose path contains this fails... */
  match: string;
  /** ...while this file exists. */
  flag: string;
}

/** The environment of a child process with the shim (`so`, from buildEioShim) loaded. */
export function eioEnv(so: string, fault: EioFault): Record<string, string> {
  // UV_USE_IO_URING=0: libuv's reads and writes go through the calls the shim replaces.
  return { LD_PRELOAD: so, GH_EIO_OPS: fault.ops, GH_EIO_MATCH: fault.match, GH_EIO_FLAG: fault.flag, UV_USE_IO_URING: '0' };
}
