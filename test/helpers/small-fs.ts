// A real, small filesystem for disk-full tests: a size-limited tmpfs mounted on a fresh temp dir
// (needs root, as in .ci/run). Unmounted after the test. Without root (or when mounting is not
// permitted, e.g. an unprivileged container) the caller skips with the returned message.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Why a small filesystem cannot be mounted here, or undefined when it can. */
export function smallFsSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a size-limited tmpfs (mount, from the Debian package util-linux); run as root as .ci/run does';
  const dir = join(tmpdir(), `gatehouse-mountcheck-${process.pid}`);
  spawnSync('mkdir', ['-p', dir]);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('rmdir', [dir]);
    return `cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()}): needs root with CAP_SYS_ADMIN and the Debian package util-linux`;
  }
  spawnSync('umount', [dir]);
  spawnSync('rmdir', [dir]);
  return undefined;
}

/** Mount a tmpfs of sizeMiB on a new temp dir; unmounted and removed after the test. */
export async function mountSmallFs(t: TestContext, sizeMiB: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-smallfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir} failed: ${r.stderr}`);
  t.after(async () => {
    // Lazy unmount: a child process still holding a file must not make cleanup fail.
    spawnSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Free bytes (unprivileged) on the filesystem of path. */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

/** A file of `bytes` (incompressible is not needed: tmpfs does not compress) to free later. */
export async function writeFiller(path: string, bytes: number): Promise<void> {
  await writeFile(path, Buffer.alloc(bytes, 0x61));
}
