// Which keys of the file source's state (state.ts) a store commit writes: the files whose state
// changed since the last commit (offset, path, fingerprint, ...), deletes for the files no longer
// tracked, and the head when the content read before or the CSV header changed. The entries are
// made when the store cuts the batch (a MetaValue function, core/message.ts), so they describe the
// trackers as they are then: each change is followed by a put of the state (emit, retire, close),
// in the same synchronous run as the records it covers.
//
// A tracked file whose only change is the time of the last look at it (`seen`, which narrows the
// restart's search for content rotated away while stopped) is written again once that look is
// SEEN_REFRESH_MS newer than the one saved: an older `seen` only widens that search.
import type { MetaEntries } from '../../../../core/message.js';
import type { Intake } from '../../contract.js';
import { identityKey, type Fingerprint } from './identity.js';
import type { ReadContent } from './rotated-away.js';
import type { SavedFile } from './tracker-context.js';
import { decodeKeys, decodeState, encodeFile, encodeHead, fileName, HEAD_NAME, headBody, STATE_KEY, type SavedState } from './state.js';

export const SEEN_REFRESH_MS = 60_000;

/** What the writer reads of a tracker (tracker.ts) to tell whether its saved state changed. */
export interface StateTracker {
  readonly path: string;
  readonly fp: Fingerprint;
  readonly submittedOffset: number;
  readonly submittedHeadersLeft: number;
  readonly from: string | undefined;
  readonly inMemoryBytes: number | undefined;
  readonly detached: boolean;
  readonly size: number;
  readonly pathSeenAt: number;
  readonly contentSeenAt: number;
  saved(): SavedFile;
}

/** A file's state as last cut for the store (the fields compared with its tracker). */
interface Written {
  path: string;
  hash: string;
  len: number;
  offset: number;
  headersLeft: number;
  from: string | undefined;
  inMemoryBytes: number | undefined;
  rotatedSize: number | undefined;
  seen: number;
}

function written(s: SavedFile): Written {
  return {
    path: s.path,
    hash: s.fp.hash,
    len: s.fp.len,
    offset: s.offset,
    headersLeft: s.headersLeft,
    from: s.from,
    inMemoryBytes: s.inMemoryBytes,
    rotatedSize: s.rotatedSize,
    seen: s.seen ?? 0,
  };
}

function unchanged(w: Written, t: StateTracker): boolean {
  return (
    w.offset === t.submittedOffset &&
    w.path === t.path &&
    w.hash === t.fp.hash &&
    w.len === t.fp.len &&
    w.headersLeft === t.submittedHeadersLeft &&
    w.from === t.from &&
    w.inMemoryBytes === t.inMemoryBytes &&
    w.rotatedSize === (t.detached ? t.size : undefined) &&
    Math.min(t.pathSeenAt, t.contentSeenAt) - w.seen < SEEN_REFRESH_MS
  );
}

export interface StateWriterDeps {
  trackers: ReadonlyMap<string, StateTracker>;
  /** Content read before (FileSet.readContent). */
  readContent: ReadContent[];
  header(): string | undefined;
  now(): number;
}

export class StateWriter {
  /** Each file key the store holds, or that a batch being written puts, with the state it holds. */
  private readonly written = new Map<string, Written>();
  /** The head's body in the store (or in a batch being written); undefined: write it. */
  private head: string | undefined;
  /** The v1 state key (one value, earlier versions) is to be deleted. */
  private legacy = false;
  /** After a failed commit: write every file again. */
  private resync = false;
  /** File keys the store may still hold (found after a failed commit): deleted unless tracked. */
  private readonly gone = new Set<string>();
  /** A failed commit is being followed by a look at the keys the store holds. */
  private relisting = false;

  constructor(private readonly deps: StateWriterDeps) {}

  /**
   * At start: the committed state, the keys under 'state/' (state.ts) or the one value of earlier
   * versions (v1) at 'state' (resumed from, then replaced at the first commit), or an Error when
   * it cannot be read (the source starts over). `firstRun`: nothing was committed (initialPosition
   * applies only then).
   */
  async load(intake: Pick<Intake, 'readMeta' | 'readMetas'>): Promise<{ state: SavedState | Error | undefined; firstRun: boolean }> {
    const legacy = await intake.readMeta(STATE_KEY);
    const keys = ((await intake.readMetas?.(`${STATE_KEY}/`)) ?? []).map(([k, v]): [string, Buffer] => [k.slice(STATE_KEY.length), v]);
    const ids = keys.filter(([n]) => n !== HEAD_NAME).map(([n]) => n.slice(1));
    const firstRun = legacy === undefined && keys.length === 0;
    if (legacy) {
      this.loadedLegacy(ids);
      return { state: decodeState(legacy), firstRun };
    }
    const state = decodeKeys(keys);
    if (state instanceof Error) this.failed(ids, false);
    else if (state) {
      const files = new Map<string, SavedFile>();
      for (const f of state.files) files.set(identityKey(f.dev, f.ino), f);
      this.loaded(files, headBody(state.read ?? [], state.header));
    }
    return { state, firstRun };
  }

  /**
   * A state commit failed (its keys were not written): the next one writes every file and the
   * head again, and deletes the file keys the store still holds of files no longer tracked.
   * `staleFound` is called when the look at the store found such keys: a commit cut before the
   * look ended could not delete them, so the source commits again rather than leave them to
   * whenever a file changes next.
   */
  commitFailed(intake: Pick<Intake, 'readMeta' | 'readMetas'>, tracked: (id: string) => boolean, staleFound: () => void): void {
    this.failed([], false);
    if (this.relisting) return;
    this.relisting = true;
    void (async () => {
      const keys = (await intake.readMetas?.(`${STATE_KEY}/`)) ?? [];
      const stale = keys.map(([k]) => k.slice(STATE_KEY.length + 1)).filter((id) => `/${id}` !== HEAD_NAME && !tracked(id));
      const legacy = (await intake.readMeta(STATE_KEY)) !== undefined;
      this.failed(stale, legacy);
      if (this.gone.size > 0 || this.legacy) staleFound();
    })()
      .catch(() => undefined)
      .finally(() => {
        this.relisting = false;
      });
  }

  /** At start: the file keys the store holds (by id) and the head's body. */
  loaded(files: ReadonlyMap<string, SavedFile>, head: string | undefined): void {
    for (const [id, f] of files) this.written.set(id, written(f));
    this.head = head;
  }

  /**
   * At start: the state resumed from is the one value of earlier versions (v1), replaced at the next commit;
   * `stale`: file keys the store holds too (a newer version run before, then an older one).
   */
  loadedLegacy(stale: readonly string[]): void {
    this.legacy = true;
    for (const id of stale) this.gone.add(id);
  }

  /** Whether the next commit has to write keys though no file changed (a migration from v1). */
  get migrating(): boolean {
    return this.legacy;
  }

  /** A commit of the state failed: the next one writes every file, the head, and deletes `stale` keys (the store's, found since). */
  failed(stale: readonly string[], legacy: boolean): void {
    this.resync = true;
    this.head = undefined;
    for (const id of stale) this.gone.add(id);
    if (legacy) this.legacy = true;
  }

  /** The keys to write now (the value of a state put, made when the store cuts the batch). */
  readonly entries = (): MetaEntries => {
    const out: Array<[string, Buffer | null]> = [];
    if (this.legacy) {
      out.push(['', null]);
      this.legacy = false;
    }
    const { trackers } = this.deps;
    for (const [id, t] of trackers) {
      const w = this.written.get(id);
      if (w !== undefined && !this.resync && unchanged(w, t)) continue;
      const s = t.saved();
      out.push([fileName(id), encodeFile(s)]);
      this.written.set(id, written(s));
    }
    for (const id of this.written.keys()) {
      if (trackers.has(id)) continue;
      out.push([fileName(id), null]);
      this.written.delete(id);
    }
    for (const id of this.gone) if (!trackers.has(id) && !this.written.has(id)) out.push([fileName(id), null]);
    this.gone.clear();
    const body = headBody(this.deps.readContent, this.deps.header());
    if (body !== this.head) {
      out.push([HEAD_NAME, encodeHead(body, this.deps.now())]);
      this.head = body;
    }
    this.resync = false;
    return out;
  };
}
