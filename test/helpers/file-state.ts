// The file source's committed state as the store holds it (gateway/pipeline/sources/file/state.ts:
// a key per file under 'state/', or the one value of earlier versions (v1) at 'state'), for tests that look
// at it or put back what a killed run left (a kill -9 simulated in process).
import type { Intake } from '../../gateway/pipeline/contract.js';
import { decodeKeys, decodeState, STATE_KEY, type SavedState } from '../../gateway/pipeline/sources/file/state.js';

export interface CommittedState {
  /** The v1 value (earlier versions), when present. */
  legacy?: Buffer;
  /** The keys under 'state/' (names without 'state': '/head', '/<dev>:<ino>'). */
  keys: Array<[string, Buffer]>;
}

export async function committedState(intake: Intake): Promise<CommittedState | undefined> {
  const legacy = await intake.readMeta(STATE_KEY);
  const keys = ((await intake.readMetas!(`${STATE_KEY}/`)) ?? []).map(([k, v]): [string, Buffer] => [k.slice(STATE_KEY.length), v]);
  if (legacy === undefined && keys.length === 0) return undefined;
  return { ...(legacy ? { legacy } : {}), keys };
}

/** The state a restart resumes from (the legacy value first, as the source reads it). */
export function decodeCommitted(c: CommittedState): SavedState | Error | undefined {
  return c.legacy ? decodeState(c.legacy) : decodeKeys(c.keys);
}

/** Every value's text (to look for a field in any of them). */
export function committedText(c: CommittedState | undefined): string {
  return c === undefined ? '' : [c.legacy?.toString() ?? '', ...c.keys.map(([, v]) => v.toString())].join('\n');
}

/** Make the store hold exactly `c` (what a killed run had committed): keys written since are deleted. */
export async function restoreState(intake: Intake, c: CommittedState): Promise<void> {
  const now = await committedState(intake);
  const want = new Map(c.keys);
  const entries: Array<[string, Buffer | null]> = [['', c.legacy ?? null]];
  for (const [name] of now?.keys ?? []) if (!want.has(name)) entries.push([name, null]);
  entries.push(...c.keys);
  await intake.commitMeta(STATE_KEY, () => entries);
}
