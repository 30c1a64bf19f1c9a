// The committed state of a file source: one meta value (key 'state') holding every tracked file's
// identity, fingerprint and offset, written with intake.commitMeta after the records read before
// it (so records and offsets commit together), and read back at start to resume.
import type { SavedFile } from './tracker-context.js';
import type { ReadContent } from './rotated-away.js';

/** Content read before, kept in the state so a restart recognises its renames and copies. */
const MAX_SAVED_READ = 16;

export const STATE_KEY = 'state';

export interface SavedState {
  v: 1;
  /** When this state was committed (epoch ms): rotated files modified later hold unread data. */
  at?: number;
  files: SavedFile[];
  /** Content no tracker holds any more, read up to an offset (retired rotated files, read copies), oldest first. */
  read?: ReadContent[];
  /** The first CSV header line the source read (CSVTOJSON with skipHeaderLines): later files' headers are compared with it. */
  header?: string;
}

export function encodeState(files: SavedFile[], at: number, read: ReadContent[], header?: string): Buffer {
  const state: SavedState = { v: 1, at, files };
  if (read.length > 0) state.read = read.slice(-MAX_SAVED_READ);
  if (header !== undefined) state.header = header;
  return Buffer.from(JSON.stringify(state));
}

/** The saved state, or an Error when it cannot be parsed (the source then starts over). */
export function decodeState(raw: Buffer): SavedState | Error {
  try {
    const state = JSON.parse(raw.toString('utf8')) as SavedState;
    if (!Array.isArray(state.files)) throw new Error('no files in the saved state');
    return state;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
