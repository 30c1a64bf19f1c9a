// Options of the local stream store and of each stream (zod schemas; the lead composes them into
// the config file schema and generates the defaults documentation from the descriptions).
import { z } from '../../core/zod.js';
import { MAX_TIMER_MS, TIMER_TOO_LONG } from '../../core/timer-delay.js';
import type { StreamOptions } from './types.js';

const MiB = 1024 * 1024;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Milliseconds of a duration: a number (already ms) or a string like '7d', '12h', '30m', '45s',
 * '250ms', '1h30m'. Throws a RangeError naming the accepted forms on anything else.
 */
export function parseDuration(input: number | string): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input <= 0) throw new RangeError(`duration must be a positive number of ms, got ${input}`);
    return input;
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text));
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    end = part.lastIndex;
  }
  if (end === 0 || end !== text.length || total <= 0) {
    throw new RangeError(`'${input}' is not a duration: use a number of ms or e.g. '7d', '12h', '30m', '45s', '250ms'`);
  }
  return Math.round(total);
}

export const storeOptionsSchema = z
  .strictObject({
    path: z.string().min(1).describe('Directory of the LevelDB database holding every local stream'),
    durability: z
      .enum(['fsync', 'os'])
      .default('fsync')
      .describe("'fsync': an append is acknowledged after the batch is fsynced; 'os': after the OS has the write (survives a process crash, not a power loss)"),
    appendTimeoutMs: z
      .number()
      .int()
      .nonnegative()
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(30_000)
      .describe("How long an append to a full stream with onFull 'reject' waits for space before failing with GH_STREAM_FULL"),
    maxPendingBytes: z
      .number()
      .int()
      .positive()
      .default(16 * MiB)
      .describe('Bound of the in-memory group-commit queue (encoded bytes); appends beyond it wait for the running commit'),
    commitDelayMs: z
      .number()
      .nonnegative()
      .max(1000)
      .optional()
      .describe(
        'Commit pacing (default 7 with durability fsync, 0 with os): while appends keep arriving concurrently, the group commit waits until its oldest append is this old (ms) before its one write + fsync, so a steady stream makes few full commits (at most ~1000/commitDelayMs fsyncs/s) instead of many tiny ones. A lone writer (nothing arrived during the last commit) and a full-speed stream (the previous commit took longer than this) commit at once. Bounds the added PUBACK latency; 0 = commit on the next event-loop turn',
      ),
    sweepIntervalMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_TOO_LONG).default(60_000).describe('Interval of the ttl sweep timer'),
    tallyEveryBytes: z
      .number()
      .int()
      .positive()
      .default(256 * MiB)
      .describe(
        'Record bytes appended to a stream after which a group commit also writes the stream\'s tally (its counters, docs/store.md "Starting on a large backlog"): a start after a power cut reads at most this much of a stream\'s keys, none after a clean stop. Smaller starts faster after a power cut; a tally in every commit made LevelDB rewrite an append-only backlog (+49% bytes written)',
      ),
    reserveBytes: z
      .number()
      .int()
      .nonnegative()
      .default(32 * MiB)
      .describe(
        "Free space kept on the data directory's filesystem for checkpoints and control state: data appends and file exports are refused (no PUBACK, healthz 503) while less is free, and resume once reserveBytes + 1/8 is free again. 0 disables the check",
      ),
    ballastBytes: z
      .number()
      .int()
      .nonnegative()
      .default(16 * MiB)
      .describe(
        "A file of this size kept in the store's directory (GATEHOUSE-SPACE-BALLAST) and deleted when a LevelDB write failed on a full disk and too little is free to reopen the database (a compaction outgrew the reserve): the store reopens and frees its delivered backlog by itself. Written once free space is under 1 GiB and leaves room for it above reserveBytes + 1/8 (again after it was given up). 0 disables it",
      ),
    diskProbeMs: z
      .number()
      .int()
      .min(50)
      .max(MAX_TIMER_MS, TIMER_TOO_LONG)
      .default(500)
      .describe('How often free space is probed (statfs) and, after a failed write, recovery is tried'),
    // The slow-disk thresholds (slow-disk.ts, docs/store.md "A slow disk"): an SD card's stalls of
    // seconds and a worn card's slow flushes are said; a known-slow medium (a USB stick) may move
    // them up, an industrial SSD down. Below 100 ms a stall is an ordinary busy flush on any card.
    commitStallMs: z
      .number()
      .int()
      .refine((v) => v === 0 || (v >= 100 && v <= 3_600_000), { message: 'a stall threshold is 0 (off) or 100 to 3600000 ms' })
      .default(5_000)
      .describe(
        'A group commit in flight this long (ms; 0, or 100 to 3600000) is a stall of the disk: logged (at most once a minute), counted in gatehouse_store_commit_stalls_total, and /healthz answers 503 degraded while it lasts (no acknowledgement is sent meanwhile). 0 disables the stall watch (the gauge gatehouse_store_commit_in_flight_seconds stays)',
      ),
    slowCommitMeanMs: z
      .number()
      .int()
      .nonnegative()
      .default(100)
      .describe(
        'When the commits of the last minute took this long (ms) or more on average, the disk is slow: one warning per such minute, and /healthz stays 200 with a `warning`. Below commitStallMs when both are on. 0 disables the warning',
      ),
  })
  .strict();

/**
 * What is wrong with the slow-disk thresholds taken together (a mean of commits at or above the
 * stall threshold would only ever be said after a stall), or undefined. The config schema's store
 * section checks it (a schema with a refinement can no longer be `omit`ted).
 */
export function slowDiskThresholdsProblem(o: { commitStallMs?: number | undefined; slowCommitMeanMs?: number | undefined }): string | undefined {
  const stall = o.commitStallMs ?? 5_000;
  const mean = o.slowCommitMeanMs ?? 100;
  if (stall > 0 && mean > 0 && mean >= stall)
    return `slowCommitMeanMs (${mean}) must be below commitStallMs (${stall}): a minute of commits that slow on average is stalls, said as such`;
  return undefined;
}

export type StoreOptions = z.output<typeof storeOptionsSchema>;
/** What callers may pass: defaults filled in by the factory. */
export type StoreOptionsInput = z.input<typeof storeOptionsSchema>;

export const durationSchema = z.union([z.number(), z.string()]).transform((value, ctx): number => {
  try {
    return parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const streamDefaultsSchema = z
  .strictObject({
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(256 * MiB)
      .describe('Upper bound of the record bytes (topic + payload + key + attributes) a stream holds'),
    ttl: durationSchema.optional().describe("Records older than this (by receivedAt) are dropped by the sweep: ms or a duration like '7d', '12h'"),
    onFull: z
      .enum(['reject', 'drop-oldest'])
      .default('reject')
      .describe("When an append does not fit: 'reject' holds it back (backpressure, then GH_STREAM_FULL), 'drop-oldest' drops the oldest records (counted)"),
    localOnly: z
      .boolean()
      .default(false)
      .describe('The stream is only read locally (admin API, inspection): check-config does not warn that no exporter drains it'),
  })
  .strict();

export type StreamDefaults = z.output<typeof streamDefaultsSchema>;
export type StreamDefaultsInput = z.input<typeof streamDefaultsSchema>;

/** The StreamOptions of the store contract from a name and its parsed per-stream options. */
export function toStreamOptions(name: string, parsed: StreamDefaults): StreamOptions {
  const out: StreamOptions = { name, maxBytes: parsed.maxBytes, onFull: parsed.onFull };
  if (parsed.ttl !== undefined) out.ttlMs = parsed.ttl;
  return out;
}
