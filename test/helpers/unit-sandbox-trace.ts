// What the gateway did under strace in the unit sandbox (unit-sandbox.ts startUnit({ trace })):
// file-writing calls outside the paths the unit may write, calls refused for want of a right
// (EROFS, EACCES, EPERM), and the socket families it opened (RestrictAddressFamilies=).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StagedInstall } from './unit-sandbox.js';

/** One traced call that wrote, or failed for want of a right, outside what the unit may write. */
export interface TraceFinding {
  pid: string;
  line: string;
}

/** File-writing calls (by their flags or name) whose path is outside `writable`, and every EROFS / EACCES / EPERM. */
export function readTrace(
  stage: StagedInstall,
  writable: readonly string[] = ['/var/lib/gatehouse/'],
): {
  outside: TraceFinding[];
  refused: TraceFinding[];
  families: Set<string>;
  lines: number;
} {
  const outside: TraceFinding[] = [];
  const refused: TraceFinding[] = [];
  const families = new Set<string>();
  let lines = 0;
  const writes =
    /^(open|openat|creat|mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|symlink|symlinkat|link|linkat|chmod|fchmodat|chown|fchownat|lchown|truncate|utimensat|mknod|mknodat)\(/;
  for (const f of readdirSync(stage.out).filter((n) => n.startsWith('trace.'))) {
    const pid = f.slice('trace.'.length);
    for (const line of readFileSync(join(stage.out, f), 'utf8').split('\n')) {
      if (!line) continue;
      lines++;
      const fam = /^socket\((AF_[A-Z0-9]+)/.exec(line);
      if (fam) families.add(fam[1]!);
      if (/= -1 (EROFS|EACCES|EPERM) /.test(line)) refused.push({ pid, line });
      if (!writes.test(line)) continue;
      if (/^open/.test(line) && !/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(line)) continue;
      const paths = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
      const bad = paths.filter((p) => p.startsWith('/') && !writable.some((w) => p.startsWith(w) || `${p}/` === w) && !isDevice(p));
      if (bad.length) outside.push({ pid, line });
    }
  }
  return { outside, refused, families, lines };
}

/** Devices a write to is no file-system write (/dev/null, ttys, the pty). */
function isDevice(p: string): boolean {
  return p.startsWith('/dev/') || p.startsWith('/proc/') || p.startsWith('/sys/');
}
