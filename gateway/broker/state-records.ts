// The records of a broker state file (state-journal.ts): its lines (state-lines.ts) parsed a batch
// at a time and handed on in order, up to the first line that is not a JSON object, which the
// journal judges (a torn last journal line, a damaged snapshot). One JSON.parse per batch: one a
// line took ~2x longer over 50,000 small records.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { StateLines } from './state-lines.js';

/** One record of a state file: a retained message, an MQTT 5 session, a header. */
export type StateRecord = Record<string, unknown>;

/** The file's lines, or undefined: no file (or one that cannot be opened: logged, started without it). */
export async function linesOrUndefined(file: string, log: Logger, kind: string): Promise<StateLines | undefined> {
  try {
    return await StateLines.open(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn({ err: errorMessage(err), file, code: 'GH_BROKER_STATE_FILE' }, `cannot read ${kind} state: starting without it`);
    return undefined;
  }
}

/** Characters of lines parsed by one JSON.parse (one call per line took ~2x longer over 50,000 small records). */
const BATCH_CHARS = 64 * 1024;

/**
 * The records of `lines` (the first numbered `n`) handed to `each` in order, parsed a batch of
 * lines at a time; undefined at the end, or the first line that is not a JSON object (its number,
 * its text, and the lines of its batch after it; the lines after those are not read).
 */
export async function eachRecord(
  lines: StateLines,
  n: number,
  each: (rec: StateRecord, line: string) => void,
): Promise<{ n: number; line: string; after: string[] } | undefined> {
  const batch: string[] = [];
  let chars = 0;
  for (;;) {
    const line = await lines.next();
    if (line !== undefined) {
      batch.push(line);
      chars += line.length;
      if (chars < BATCH_CHARS) continue;
    }
    const records = parseLines(batch);
    const good = typeof records === 'number' ? records : batch.length;
    if (typeof records === 'number') {
      for (let i = 0; i < good; i++) each(parseOrUndefined(batch[i]!)!, batch[i]!);
      return { n: n + good, line: batch[good]!, after: batch.slice(good + 1) };
    }
    for (let i = 0; i < good; i++) each(records[i]!, batch[i]!);
    if (line === undefined) return undefined;
    n += batch.length;
    batch.length = 0;
    chars = 0;
  }
}

/** Every line parsed (one JSON.parse of them all), or the index of the first that is not a JSON object. */
function parseLines(lines: string[]): StateRecord[] | number {
  if (lines.length === 0) return [];
  try {
    const all = JSON.parse(`[${lines.join(',')}]`) as unknown[];
    if (all.length === lines.length && all.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))) return all as StateRecord[];
  } catch {
    // one of them is not JSON: found below
  }
  const out: StateRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const rec = parseOrUndefined(lines[i]!);
    if (rec === undefined) return i;
    out.push(rec);
  }
  return out;
}

export function parseOrUndefined(line: string): StateRecord | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as StateRecord) : undefined;
  } catch {
    return undefined;
  }
}
