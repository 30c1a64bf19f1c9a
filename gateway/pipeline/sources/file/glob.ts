// A small glob matcher for file source patterns (Node 20 has no fs.glob). Supports `*` and `?`
// within one path segment, `[abc]` / `[!abc]` classes, and `**` as a whole segment (zero or more
// folders). Patterns are absolute (relative ones resolve against the working directory). Hidden
// entries match only when the pattern segment itself starts with a dot, like shells do.
import { readdir } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';

export interface CompiledGlob {
  pattern: string;
  /** The literal folder the walk starts from (no wildcard in it). */
  base: string;
  /** Remaining segments: a RegExp per segment, or '**'. */
  segments: Array<RegExp | '**'>;
  /** Whole-path matcher, for files found by other means (rotated siblings, watch events). */
  full: RegExp;
}

const MAGIC = /[*?[]/;

function segmentSource(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return out;
}

export function compileGlob(pattern: string): CompiledGlob {
  const abs = isAbsolute(pattern) ? pattern : resolve(pattern);
  const parts = abs.split(sep).filter((p) => p.length > 0);
  let i = 0;
  while (i < parts.length - 1 && !MAGIC.test(parts[i]!)) i++;
  if (!MAGIC.test(parts[i] ?? '')) i = parts.length - 1; // no wildcard at all: the file itself
  const base = sep + parts.slice(0, i).join(sep);
  const rest = parts.slice(i);
  const segments = rest.map((s) => (s === '**' ? ('**' as const) : new RegExp(`^${segmentSource(s)}$`)));
  let full = `^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\/$/, '')}`;
  for (const s of rest) full += s === '**' ? '(?:/[^/]+)*' : `/${segmentSource(s)}`;
  return { pattern, base, segments, full: new RegExp(`${full}$`) };
}

function hiddenAllowed(seg: RegExp | '**', name: string): boolean {
  if (!name.startsWith('.')) return true;
  return seg !== '**' && seg.source.startsWith('^\\.');
}

/** Bounds of a glob expansion: at most MAX_GLOB_MATCHES paths, `**` at most 16 folders deep. */
export const MAX_GLOB_MATCHES = 100_000;

export interface ExpandLimits {
  maxEntries?: number;
  maxDepth?: number;
  /** Called (once per expansion) when the walk stopped at maxEntries: the other matches are not listed. */
  onLimit?: (maxEntries: number) => void;
}

/**
 * Every regular-file path matching the glob (symlinks followed for files only; folders are
 * walked without following symlinks, so loops cannot happen). `maxDepth` bounds `**` walks and
 * `maxEntries` the paths returned (onLimit says when matches were left out). A folder that exists
 * but cannot be listed (permissions) is passed to `unlistable`.
 */
export async function expandGlob(
  glob: CompiledGlob,
  unlistable: (dir: string, err: NodeJS.ErrnoException) => void = () => undefined,
  limits: ExpandLimits = {},
): Promise<string[]> {
  const { maxEntries = MAX_GLOB_MATCHES, maxDepth = 16 } = limits;
  const found: string[] = [];
  /** A match beyond maxEntries was met: the walk stops there. */
  let limited = false;
  const walk = async (dir: string, idx: number, depth: number): Promise<void> => {
    if (limited) return;
    const seg = glob.segments[idx];
    if (seg === undefined) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // Missing: nothing matches (yet). Unreadable: its files could match, so it is reported.
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') unlistable(dir, e);
      return;
    }
    const last = idx === glob.segments.length - 1;
    if (seg === '**') {
      // zero folders: try the next segment here
      await walk(dir, idx + 1, depth);
      if (depth >= maxDepth) return;
      for (const e of entries) {
        if (limited) return;
        if (e.isDirectory() && hiddenAllowed(seg, e.name)) await walk(join(dir, e.name), idx, depth + 1);
      }
      return;
    }
    for (const e of entries) {
      if (!seg.test(e.name) || !hiddenAllowed(seg, e.name)) continue;
      const p = join(dir, e.name);
      if (last) {
        if (!e.isDirectory() || e.isSymbolicLink()) {
          // files, symlinks; fifos, sockets...: reported as unreadable later
          if (found.length >= maxEntries) {
            limited = true;
            return;
          }
          found.push(p);
        }
      } else if (e.isDirectory()) await walk(p, idx + 1, depth);
      if (limited) return;
    }
  };
  await walk(glob.base, 0, 0);
  if (limited) limits.onLimit?.(maxEntries);
  return found;
}

/** Folders to watch for a glob: the base, plus (for `**`) nothing more: the rescan covers depth. */
export function watchFolders(glob: CompiledGlob): string[] {
  return [glob.base];
}

/** Whether a file name (not a path) matches one of the `exclude` globs (`*.gz`...). */
export function nameMatcher(globs: string[]): (name: string) => boolean {
  const res = globs.map((g) => compileGlob(`/${g}`).segments[0] as RegExp);
  return (name) => res.some((re) => re.test(name));
}
