// The committed state of a file source: one meta value (key 'state') holding every tracked file's
// identity, fingerprint and offset, written with intake.commitMeta after the records read before
// it (so records and offsets commit together), and read back at start to resume.
import type { SavedFile } from './tracker.js';

export const STATE_KEY = 'state';

export interface SavedState {
  v: 1;
  /** When this state was committed (epoch ms): rotated files modified later hold unread data. */
  at?: number;
  files: SavedFile[];
}

export function encodeState(files: SavedFile[], at: number): Buffer {
  const state: SavedState = { v: 1, at, files };
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
