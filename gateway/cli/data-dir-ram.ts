// A data directory whose writes go to RAM: tmpfs or ramfs, or an overlay whose upper (written)
// layer is one, as Raspberry Pi OS's "overlay file system" makes the root (read-only card, writes
// in RAM, lost at reboot). An acknowledgement there means the data is in memory, not on disk: the
// next power cut loses every record acknowledged since boot, and the store starts empty. The
// systemd unit does not stop it (ReadWritePaths=/var/lib/gatehouse is writable in the overlay), so
// `start` logs it and `check-config` prints it, with where to put the folder instead.
import { readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';

interface Mount {
  point: string;
  fstype: string;
  superOptions: string;
}

/** /proc/self/mountinfo's mounts (octal escapes in paths decoded), or none where it cannot be read. */
function mounts(text: string): Mount[] {
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if (point && fstype) out.push({ point: decode(point), fstype, superOptions });
  }
  return out;
}

/** The mount holding `path` (the last one mounted on the longest prefix). */
function mountOf(all: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of all) {
    const inside = m.point === '/' || path === m.point || path.startsWith(`${m.point}/`);
    if (inside && (!best || m.point.length >= best.point.length)) best = m;
  }
  return best;
}

/** The nearest existing folder of `path`, resolved (the data dir may not be made yet). */
function existing(path: string): string {
  for (let p = path; ; p = dirname(p)) {
    try {
      return realpathSync(p);
    } catch {
      if (dirname(p) === p) return p;
    }
  }
}

const RAM = new Set(['tmpfs', 'ramfs']);

/**
 * What the data dir's writes go to when it is RAM ("tmpfs", "an overlay written to tmpfs"), else
 * undefined. mountinfo and resolvePath: the machine's, or a test's.
 */
export function ramBacking(dataDir: string, mountinfo?: string, resolvePath: (p: string) => string = existing): string | undefined {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return undefined; // not Linux: nothing to say
    }
  }
  const all = mounts(text);
  const m = mountOf(all, resolvePath(dataDir));
  if (!m) return undefined;
  if (RAM.has(m.fstype)) return m.fstype;
  if (m.fstype !== 'overlay') return undefined;
  const upper = /(?:^|,)upperdir=([^,]+)/.exec(m.superOptions)?.[1];
  const below = upper ? mountOf(all, upper) : undefined;
  return below && RAM.has(below.fstype) ? `an overlay written to ${below.fstype}` : undefined;
}

/** The warning for a data dir in RAM, or undefined. */
export function ramDataDirWarning(dataDir: string, mountinfo?: string, resolvePath?: (p: string) => string): string | undefined {
  const on = ramBacking(dataDir, mountinfo, resolvePath);
  if (!on) return undefined;
  return (
    `the data directory ${dataDir} is on ${on} (RAM): what the gateway acknowledges is lost at the next reboot or power cut, and the store starts empty. ` +
    "Put it on a disk partition (Raspberry Pi OS's overlay file system: a writable partition mounted there, or the overlay turned off; " +
    "under the systemd unit another folder with 'sudo systemctl edit gatehouse': ExecStart= with --data-dir, ReadWritePaths= for it)"
  );
}
