// Folder listings for the sweeps that look for content rotated away (rotated-away.ts), shared by
// the sweeps that ask at about the same time, sorted so that a file's siblings (its name + a
// suffix) are found by a binary search. Before, every sweep listed its folder and filtered every
// name: a first line written to each of 2,000 empty files in one folder made 2,000 listings of
// 2,000 names (4 million strings to filter and collect) within seconds.
//
// A sweep looks for what was rotated away before it was called, so a listing that started before
// the call may predate it and is not shared with it: such a call waits for the next listing, which
// starts when the one in flight ends and serves every call that arrived meanwhile. At most one
// listing per folder is in flight and one waits.
import { readdir } from 'node:fs/promises';

/** A folder's names, sorted by UTF-16 code units (Array.prototype.sort's order). */
export type SortedNames = readonly string[];

export class DirListings {
  private readonly inFlight = new Map<string, Promise<SortedNames | undefined>>();
  private readonly queued = new Map<string, Promise<SortedNames | undefined>>();

  constructor(private readonly list: (dir: string) => Promise<string[]> = (dir) => readdir(dir)) {}

  /** The names in `dir` as listed by a listing that started after this call; undefined when it cannot be listed. */
  names(dir: string): Promise<SortedNames | undefined> {
    const queued = this.queued.get(dir);
    if (queued) return queued;
    const current = this.inFlight.get(dir);
    if (!current) return this.start(dir);
    const next = current.then(() => {
      this.queued.delete(dir);
      return this.start(dir);
    });
    this.queued.set(dir, next);
    return next;
  }

  private start(dir: string): Promise<SortedNames | undefined> {
    const listing: Promise<SortedNames | undefined> = this.list(dir)
      .then(
        (names) => names.sort(),
        () => undefined,
      )
      .finally(() => {
        if (this.inFlight.get(dir) === listing) this.inFlight.delete(dir);
      });
    this.inFlight.set(dir, listing);
    return listing;
  }
}

/** The names in `sorted` that start with `base`, other than `base` itself, in order. */
export function namesStartingWith(sorted: SortedNames, base: string): string[] {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < base) lo = mid + 1;
    else hi = mid;
  }
  const out: string[] = [];
  for (let i = lo; i < sorted.length; i++) {
    const name = sorted[i] as string;
    if (!name.startsWith(base)) break;
    if (name !== base) out.push(name);
  }
  return out;
}
