// The rows of sliding and count windows. Such a group keeps its rows themselves (timestamp and
// aggregate argument values), and a window's aggregates are computed over them when it emits.
// This file owns a row group's rows: appending one, dropping those that left the window (sliding:
// older than its size, or beyond maxRowsPerWindow; count: beyond its n), compacting the arrays,
// the bytes the rows hold, moving them by a clock step (processing time), and aggregating the rows
// of a window when it emits. The groups themselves (which exist, their bounds) are the runner's
// (runtime.ts) and bounded-groups.ts's.
import type { WindowStats } from '../sql/compile-types.js';
import type { Value } from '../sql/values.js';
import type { Acc } from './aggregates.js';
import { rowBytes, type GroupBytes } from './group-bytes.js';
import type { Closing, RowGroup } from './group-state.js';
import type { WindowSpec } from './spec.js';

/** A change of (wall clock - elapsed time) at least this large is a clock step (ms). */
const STEP_MS = 1000;

export type RowSpec = Extract<WindowSpec, { kind: 'sliding' | 'count' }>;

/** What appending a row needs besides the group: the window, its bounds, and where to count. */
export interface RowWindow {
  spec: RowSpec;
  /** maxRowsPerWindow: the rows a sliding window keeps. */
  maxRows: number;
  /** The bytes of the runner's groups (maxGroupBytes). */
  held: GroupBytes;
  stats: WindowStats;
  newAccs(): Acc[];
}

/** The rows of g from head on hold delta bytes more (fewer when negative). */
export function rowHeld(held: GroupBytes, g: RowGroup, delta: number): void {
  g.bytes += delta;
  held.rows(delta);
}

/** The oldest row of g leaves it. */
function dropHead(held: GroupBytes, g: RowGroup): void {
  rowHeld(held, g, -rowBytes(g.vals[g.head]!));
  g.head++;
}

/**
 * Append a row (the event's aggregate arguments `vals`, at ts) to g, whose last message is the
 * event's, and drop what left its window. Returns the window the row makes emit: a sliding window
 * emits at every row, over (ts - size, ts]; a count window every hop rows once it holds n, over
 * its last n rows (with hop = n it starts over).
 */
export function pushRow(g: RowGroup, ts: number, vals: readonly Value[], w: RowWindow): Closing | undefined {
  const { spec, held } = w;
  const row = vals.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
  g.ts.push(ts);
  g.vals.push(row);
  rowHeld(held, g, rowBytes(row));
  g.seen++;
  const keep = spec.kind === 'count' ? spec.n : w.maxRows;
  if (spec.kind === 'sliding') {
    while (g.head < g.ts.length && g.ts[g.head]! <= ts - spec.size) dropHead(held, g);
  }
  while (g.ts.length - g.head > keep) {
    dropHead(held, g);
    if (spec.kind === 'sliding') w.stats.droppedRows++;
  }
  if (g.head > 64 && g.head * 2 > g.ts.length) {
    g.ts = g.ts.slice(g.head);
    g.vals = g.vals.slice(g.head);
    g.head = 0;
  }
  if (spec.kind === 'sliding') return closeRows(g, ts - spec.size, ts, w.newAccs());
  if (g.seen % spec.hop !== 0 || g.ts.length - g.head < spec.n) return undefined;
  const closing = closeRows(g, g.ts[g.head]!, ts, w.newAccs());
  if (spec.hop === spec.n) {
    g.ts = [];
    g.vals = [];
    g.head = 0;
    rowHeld(held, g, -g.bytes);
  }
  return closing;
}

/**
 * Processing time: the rows of a group are stamped by the wall clock. After the clock was
 * stepped (NTP's first sync on a Pi without an RTC, an operator), the rows from before the step
 * are moved by the step, so they leave a sliding window after their elapsed time: stepped back
 * an hour, they stayed in every row for an hour; stepped forward, they all left at once.
 * Rows arrive in time order, so a row stamped after the new one's `ts` was stamped by a clock that
 * went back without a step seen here: a state restored by a gateway started on a clock behind it
 * (a Pi's fake-hwclock after a power cut, before NTP). Such rows are taken as just before `ts`, so
 * they leave after at most the window's size; they stayed until the clock caught up, and NTP's step
 * forward then moved them by the step again: an hour behind, an hour more in every row.
 */
export function rebaseRows(g: RowGroup, skew: number, ts: number): void {
  const step = g.skew === undefined ? 0 : skew - g.skew;
  g.skew = skew;
  // NTP slews smoothly (at most 0.5 ms/s); a difference this large is a step.
  let shift = Math.abs(step) < STEP_MS ? 0 : step;
  const n = g.ts.length;
  if (n > g.head && g.ts[n - 1]! + shift > ts) shift = ts - g.ts[n - 1]!;
  if (shift === 0) return;
  for (let r = g.head; r < n; r++) g.ts[r] = g.ts[r]! + shift;
}

/** The window [start, end] of g at its emission: its rows from head on, aggregated into accs. */
function closeRows(g: RowGroup, start: number, end: number, accs: Acc[]): Closing {
  for (let r = g.head; r < g.ts.length; r++) {
    const v = g.vals[r]!;
    for (let i = 0; i < accs.length; i++) accs[i]!.add(v[i]);
  }
  return { accs: accs.map((a) => a.result()), last: g.last, start, end };
}
