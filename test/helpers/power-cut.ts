// A power cut, for real: what a disk holds at one moment, without what the kernel had not written
// to it yet. kill -9 cannot test "an acknowledgement means the data is on disk": the killed
// process's writes stay in the page cache and reach the disk anyway, fsync or not.
//
// How: the data directory is an ext4 filesystem on a loop device, whose backing file receives only
// what ext4 sent to the device (written back or fsynced), never ext4's dirty page cache. Mounted
// with commit=600, the journal commits only on fsync (not every 5 s), so only what was fsynced (or
// written back after dirty_expire, 30 s by default: longer than the tests run) is on the "disk".
// A cut stops the writer (SIGSTOP: no new write or fsync starts; one in the kernel completes, as on
// a disk that finished it before the power went), waits until the loop device has no request in
// flight, and copies the backing file: that copy is the disk after the cut. Mounted again, ext4
// replays its journal as at a boot. Needs root (losetup, mount) and the Debian packages mount and
// e2fsprogs; the caller skips with the message of powerCutSkip() otherwise.
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { waitUntil } from './index.js';

/** Where clean-ups go: a test's context (t.after), or a bench's list. */
export interface Cleanups {
  after(fn: () => unknown): void;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout.trim();
}

/** Why a loop-mounted ext4 cannot be had here, or undefined when it can (tried once). */
export function powerCutSkip(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'needs root to attach a loop device and mount ext4 on it (Debian packages mount and e2fsprogs); run as root as .ci/run does';
  const dir = spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim();
  const img = `${dir}.img`;
  let dev: string | undefined;
  try {
    run('truncate', ['-s', '8M', img]);
    dev = run('losetup', ['-f', '--show', img]);
    run('mkfs.ext4', ['-q', '-F', dev]);
    run('mount', ['-t', 'ext4', dev, dir]);
    run('umount', [dir]);
    return undefined;
  } catch (err) {
    return `cannot mount ext4 on a loop device here (${(err as Error).message}): needs root with loop devices, and the Debian packages mount and e2fsprogs`;
  } finally {
    if (dev) spawnSync('losetup', ['-d', dev]);
    spawnSync('rm', ['-rf', dir, img]);
  }
}

export interface LoopDisk {
  /** Where it is mounted. */
  dir: string;
  /** The loop device (/dev/loopN). */
  dev: string;
  /** The backing file. */
  image: string;
  /** Unmount, detach and delete (also done by the clean-up it was made with; once). */
  release(): Promise<void>;
}

async function attach(t: Cleanups, image: string, format: boolean): Promise<LoopDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-disk-'));
  const dev = run('losetup', ['-f', '--show', image]);
  let mounted = false;
  let released: Promise<void> | undefined;
  const release = (): Promise<void> =>
    (released ??= (async () => {
      // Lazy: a process still holding a file (a gateway being killed) must not fail the clean-up.
      if (mounted) spawnSync('umount', ['-l', dir]);
      spawnSync('losetup', ['-d', dev]);
      await rm(dir, { recursive: true, force: true });
      await rm(image, { force: true });
    })());
  t.after(release);
  if (format) run('mkfs.ext4', ['-q', '-F', dev]);
  // commit=600: no periodic journal commit makes unsynced metadata durable during the test.
  run('mount', ['-t', 'ext4', '-o', 'commit=600', dev, dir]);
  mounted = true;
  return { dir, dev, image, release };
}

/** A fresh ext4 of sizeMiB on a loop device, mounted (removed after the test). */
export async function loopDisk(t: Cleanups, sizeMiB: number): Promise<LoopDisk> {
  const image = join(await mkdtemp(join(tmpdir(), 'gatehouse-img-')), 'disk.img');
  t.after(() => rm(join(image, '..'), { recursive: true, force: true }));
  run('truncate', ['-s', `${sizeMiB}M`, image]);
  return attach(t, image, true);
}

/**
 * The disk as a power cut at this moment leaves it, mounted on a new directory (its journal
 * replayed). `pid`: the process writing to it, stopped (SIGSTOP) for the copy; the caller kills
 * it. Undefined: nothing writes to it (a gateway stopped before the cut).
 */
export async function cutPower(t: Cleanups, disk: LoopDisk, pid: number | undefined): Promise<LoopDisk> {
  if (pid !== undefined) process.kill(pid, 'SIGSTOP');
  // No request in flight on the device: what it has completed is in the backing file.
  const inflight = `/sys/block/${basename(disk.dev)}/inflight`;
  await waitUntil(async () => /^\s*0\s+0\s*$/.test(await readFile(inflight, 'utf8')), `no request in flight on ${disk.dev}`, 10_000);
  const copy = join(await mkdtemp(join(tmpdir(), 'gatehouse-img-')), 'after-cut.img');
  t.after(() => rm(join(copy, '..'), { recursive: true, force: true }));
  await copyFile(disk.image, copy);
  return attach(t, copy, false);
}
