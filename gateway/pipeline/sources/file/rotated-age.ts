// Which of several rotated files of one path is the oldest, when the order they were found in does
// not tell (rotation-order.ts reads them in their `seq` order): at a start, the saved files and the
// new ones come in the glob's or the folder's listing order (app.log.1, the newer, before
// app.log.2) or the state's key order (by identity); a scan finds the files created at a path and
// rotated away unseen in listing order too. What tells best, in this order:
// 1. the saved state: a file saved as rotated (renamed away or deleted, or read under another name)
//    was at the path before the one saved at the path; both were known before the files unknown to
//    it (those were at the path after the last look the state saved: rotated-away.ts);
// 2. the modification time: a rotated file is no longer written once the writer reopened its log
//    at the path (logrotate's postrotate), so it was last written before the next file's lines.
//    Any naming scheme, any tool; two rotations within the kernel's timestamp tick tie;
// 3. then the name's suffix: logrotate numbers the newest 1 (the highest number is the oldest);
//    other suffixes (dates: app.log-20261206) sort oldest first as text (of one length and format).
// A wrong order here costs order, never a line: every file is still read once from its offset.
import { basename } from 'node:path';

/** What the saved state says of a file: saved as rotated, saved at its path, or unknown to it. */
export const SAVED_ROTATED = 0;
export const SAVED_AT_PATH = 1;
export const UNKNOWN = 2;

export interface Aged {
  /** Its path now. */
  path: string;
  /** The path its lines were written at. */
  writtenAt: string;
  /** SAVED_ROTATED, SAVED_AT_PATH or UNKNOWN. */
  known: number;
  /** Modification time (ms); Infinity when it could not be read. */
  mtimeMs: number;
  /** The order it was found in (the last resort). */
  seq: number;
}

/**
 * The suffix logrotate (or a similar tool) adds to a rotated file's name: `name` is `base` plus a
 * suffix starting with a digit, optionally after `.`, `-` or `_` (app.log.1, app.log-20261206,
 * app.log.2026-12-06). Undefined for other names (app.log.lock, app.log.pos): not rotated names.
 */
export function rotationSuffix(base: string, name: string): string | undefined {
  if (name.length <= base.length || !name.startsWith(base)) return undefined;
  const suffix = name.slice(base.length);
  return /^[._-]?\d/.test(suffix) ? suffix : undefined;
}

/**
 * Compare two rotation suffixes, older first: counters highest first (logrotate's .1, .2: fewer than
 * 8 digits), others as text, lowest first (dates and times: -20261206, -%s's seconds, .2026-12-06).
 */
function suffixOrder(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined || a === b) return 0;
  const na = /^[._-]?(\d{1,7})$/.exec(a);
  const nb = /^[._-]?(\d{1,7})$/.exec(b);
  if (na && nb) return Number(nb[1]) - Number(na[1]);
  return a < b ? -1 : 1;
}

/** Older first (see the top of this module). */
export function olderFirst(a: Aged, b: Aged): number {
  if (a.known !== b.known) return a.known - b.known;
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs < b.mtimeMs ? -1 : 1;
  const base = basename(a.writtenAt);
  return suffixOrder(rotationSuffix(base, basename(a.path)), rotationSuffix(base, basename(b.path))) || a.seq - b.seq;
}
