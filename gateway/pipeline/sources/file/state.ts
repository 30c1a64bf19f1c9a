// The committed state of a file source: a key per tracked file ('state/<dev>:<ino>': its path,
// identity, fingerprint and offset) and a head key ('state/head': when it was written, the content
// read before, the CSV header), written with intake.commitMeta after the records read before them
// (so records and offsets commit together), and read back at start to resume. A commit writes only
// the files whose state changed since the last one (state-writer.ts).
//
// Earlier versions kept the whole state as ONE value (key 'state', format v1 below): a source tailing 2,000
// files rewrote ~400 KB at every store commit. A data dir holding it resumes from it, and the
// first commit replaces it with the keys above (the old key deleted in the same batch).
import type { SavedFile } from './tracker-context.js';
import type { ReadContent } from './rotated-away.js';

/** Content read before, kept in the state so a restart recognises its renames and copies. */
export const MAX_SAVED_READ = 16;

/** The state's meta key: v1 (one value) at the key itself, v2 under it (`state/...`). */
export const STATE_KEY = 'state';
/** Name of the head key under STATE_KEY. */
export const HEAD_NAME = '/head';

/** The name (under STATE_KEY) of a tracked file's key. */
export function fileName(id: string): string {
  return `/${id}`;
}

export interface SavedState {
  v: 1 | 2;
  /** When this state was committed (epoch ms): rotated files modified later hold unread data. */
  at?: number;
  files: SavedFile[];
  /** Content no tracker holds any more, read up to an offset (retired rotated files, read copies), oldest first. */
  read?: ReadContent[];
  /** The first CSV header line the source read (CSVTOJSON with skipHeaderLines): later files' headers are compared with it. */
  header?: string;
}

/** The head key's value (v2): the source-wide part of the state. */
export interface SavedHead {
  v: 2;
  /** When the head was last written (epoch ms): the sweep's time for files saved without `seen`. */
  at: number;
  read?: ReadContent[];
  header?: string;
}

/** Content read before, as saved (the fingerprinted bytes a tracker keeps are not saved: a restart does not read them). */
export function savedRead(read: ReadContent[]): ReadContent[] {
  return read.slice(-MAX_SAVED_READ).map((r) => (r.key === undefined ? { fp: r.fp, offset: r.offset } : { fp: r.fp, offset: r.offset, key: r.key }));
}

/** The head's value without its time (compared between commits: written when it changed). */
export function headBody(read: ReadContent[], header: string | undefined): string {
  const body: Omit<SavedHead, 'v' | 'at'> = {};
  if (read.length > 0) body.read = savedRead(read);
  if (header !== undefined) body.header = header;
  return JSON.stringify(body);
}

export function encodeHead(body: string, at: number): Buffer {
  return Buffer.from(body === '{}' ? `{"v":2,"at":${at}}` : `{"v":2,"at":${at},${body.slice(1)}`);
}

export function encodeFile(f: SavedFile): Buffer {
  return Buffer.from(JSON.stringify(f));
}

/** The v1 state (one value): kept to read (and test) data dirs written by earlier versions. */
export function encodeState(files: SavedFile[], at: number, read: ReadContent[], header?: string): Buffer {
  const state: SavedState = { v: 1, at, files };
  if (read.length > 0) state.read = read.slice(-MAX_SAVED_READ);
  if (header !== undefined) state.header = header;
  return Buffer.from(JSON.stringify(state));
}

/** The saved v1 state, or an Error when it cannot be parsed (the source then starts over). */
export function decodeState(raw: Buffer): SavedState | Error {
  try {
    const state = JSON.parse(raw.toString('utf8')) as SavedState;
    if (!Array.isArray(state.files)) throw new Error('no files in the saved state');
    return state;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * The saved v2 state from its keys (names under STATE_KEY, as readMetas returns them: '/head',
 * '/<dev>:<ino>'), or an Error naming the key that cannot be parsed. Undefined without a head
 * (nothing committed yet).
 */
export function decodeKeys(entries: ReadonlyArray<readonly [name: string, value: Buffer]>): SavedState | Error | undefined {
  let head: SavedHead | undefined;
  const files: SavedFile[] = [];
  for (const [name, value] of entries) {
    try {
      const v = JSON.parse(value.toString('utf8')) as SavedHead | SavedFile;
      if (name === HEAD_NAME) head = v as SavedHead;
      else if (typeof (v as SavedFile).offset === 'number' && typeof (v as SavedFile).path === 'string') files.push(v as SavedFile);
      else throw new Error('not a file state');
    } catch (err) {
      return new Error(`${STATE_KEY}${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (head === undefined) return files.length > 0 ? new Error(`${STATE_KEY}${HEAD_NAME} missing (${files.length} file keys)`) : undefined;
  const state: SavedState = { v: 2, at: head.at, files };
  if (head.read) state.read = head.read;
  if (head.header !== undefined) state.header = head.header;
  return state;
}
