// Daylight saving time for scheduled jobs: on the night the clocks go forward (Europe/Paris on the
// last Sunday of March: 02:00 -> 03:00) the local times in between do not exist, and node-cron plans
// a job set at one of them (a nightly '30 2 * * *') for the next day: that night it did not run at
// all. As cron does (Vixie cron, cronie), such a job runs at the jump instead. When the clocks go
// back, node-cron runs a 02:30 job once (as cron does), but plans a job of every hour past one pass
// of the hour that comes twice: a job every 10 minutes did not run for an hour (heartbeats stopped,
// the office saw the gateway offline). Such a job runs at each real time instead.

import { zoneOffsetMin } from '../../rules/sql/functions/time.js';

/** The zone's offset from UTC at `ms`, in minutes east (the SQL time functions' own; a job's zone is checked by its options). */
function offsetMinutes(ms: number, timeZone: string): number {
  return zoneOffsetMin(ms, timeZone) ?? 0;
}

/** The system's zone, the one a job without `timezone` follows. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * The instant the clocks went forward between `from` and `next` (the slot node-cron planned), when
 * the schedule matched a local time that jump skipped; undefined otherwise (no jump, or no slot in
 * it). `matchesWallTime` says whether the schedule matches a wall time given as a UTC date (its UTC
 * fields are the local ones); `stepMs` is 1000 for a schedule with seconds, else 60000.
 */
export function skippedByDst(from: number, next: number, timeZone: string, matchesWallTime: (wall: Date) => boolean, stepMs: number): number | undefined {
  const before = offsetMinutes(from, timeZone);
  const after = offsetMinutes(next, timeZone);
  if (after <= before) return undefined;
  // The jump: the first millisecond with another offset.
  let lo = from;
  let hi = next;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetMinutes(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  const gapMinutes = offsetMinutes(hi, timeZone) - before;
  // The skipped wall times: from the jump's wall time on the old offset, for the gap's length.
  const wallStart = hi + before * 60_000;
  for (let w = Math.ceil(wallStart / stepMs) * stepMs; w < wallStart + gapMinutes * 60_000; w += stepMs) {
    if (matchesWallTime(new Date(w))) return hi;
  }
  return undefined;
}

/**
 * When the clocks go back between `from` and `planned` (node-cron's slot), the first instant after
 * `from` the schedule matches (`matchesInstant`: in the job's zone), if earlier than `planned`; for
 * schedules of every hour only (a fixed-time job runs once in the hour that comes twice, as node-cron
 * plans it). `stepMs` as for skippedByDst.
 */
export function repeatedHourSlot(from: number, planned: number, timeZone: string, matchesInstant: (at: Date) => boolean, stepMs: number): number | undefined {
  if (offsetMinutes(planned, timeZone) >= offsetMinutes(from, timeZone)) return undefined;
  const end = Math.min(planned, from + 3 * 3_600_000);
  for (let at = Math.floor(from / stepMs) * stepMs + stepMs; at < end; at += stepMs) {
    if (matchesInstant(new Date(at))) return at;
  }
  return undefined;
}

/** The schedule runs in every hour (its hour field is '*'). */
export function everyHour(schedule: string): boolean {
  const fields = schedule.trim().split(/\s+/);
  return fields.length >= 5 && fields[fields.length - 4] === '*';
}
