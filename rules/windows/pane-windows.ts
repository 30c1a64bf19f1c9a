// The windows of a TUMBLINGWINDOW or HOPPINGWINDOW rule (panes): aligned to multiples of the hop
// since the epoch (UTC), so every group shares the same boundaries and one timer per rule serves
// them all; an event joins its group in each of the size/hop windows it is in. This file owns
// which panes an event joins, the clock each pane's close is due in (processing time), and which
// panes are due, in start order. The groups themselves (which exist, their bounds) are
// bounded-groups.ts's; feeding them, the output rows and the timer are the runner's (runtime.ts),
// reached through a GroupHost it builds once.
import type { Message } from '../../core/message.js';
import type { Value } from '../sql/values.js';
import type { BoundedGroups } from './bounded-groups.js';
import { closingOf, feedGroup, type Closing, type GroupHost } from './group-state.js';
import type { WindowSpec } from './spec.js';

export type PaneSpec = Extract<WindowSpec, { kind: 'tumbling' | 'hopping' }>;

export class PaneWindows {
  /**
   * Processing time: the wall clock minus elapsed time when each pane opened. Boundaries are wall
   * time (aligned to the epoch, checkpointed, replayed); a pane's close is due `end - skew` in
   * elapsed time, so a window had its time even when the wall clock stepped since it opened.
   */
  private readonly skews = new Map<number, number>();
  /** Upper bound of the time of the panes' last events (-Infinity: none; Infinity: restored, unknown). */
  private latest = -Infinity;

  constructor(
    private readonly spec: PaneSpec,
    private readonly groups: BoundedGroups,
    private readonly host: GroupHost,
  ) {}

  /** The event (its aggregate arguments `vals`) joins its group in every window it is in. */
  add(ts: number, key: string, msg: Message, vals: readonly Value[]): void {
    const { size, hop } = this.spec;
    const { groups, host } = this;
    // At most size/hop windows (<= 1000), whatever the arithmetic does.
    const n = Math.ceil(size / hop);
    for (let k = 0, s = Math.floor(ts / hop) * hop; k < n && s + size > ts; k++, s -= hop) {
      let pane = groups.panes.get(s);
      if (!pane) {
        groups.panes.set(s, (pane = new Map()));
        const skew = host.skew();
        if (skew !== undefined) this.skews.set(s, skew);
      }
      let g = pane.get(key);
      if (!g) {
        g = { accs: host.newAccs(), last: msg, start: s, lastTs: ts };
        groups.addPaneGroup(pane, key, g, host.maxGroups(), host.maxGroupStates());
      } else groups.held.swap(g.last, msg);
      feedGroup(g, vals, groups.held, host.accHold);
      g.last = msg;
      g.lastTs = ts;
    }
    if (ts > this.latest) this.latest = ts;
  }

  /**
   * The windows due at time t (now, or the watermark), or, given the elapsed time now (a
   * processing-time timer), due by then: they leave the state; returned one array per window, in
   * start order. Undefined: none due.
   */
  close(t: number, elapsed: number | undefined): Closing[][] | undefined {
    const size = this.spec.size;
    const due = (s: number): boolean => s + size <= t || (elapsed !== undefined && this.elapsedDue(s) <= elapsed);
    const closing = [...this.groups.panes.keys()].filter(due).sort((a, b) => a - b);
    if (!closing.length) return undefined;
    return closing.map((s) => {
      const pane = this.groups.closePane(s);
      this.skews.delete(s);
      return [...pane.values()].map((g) => closingOf(g, s + size));
    });
  }

  /** Processing time: the next close, in elapsed time. */
  nextDue(): number {
    let m = Infinity;
    for (const s of this.groups.panes.keys()) m = Math.min(m, this.elapsedDue(s));
    return m;
  }

  /** After a restore: no pane has a clock of its own (due by the wall clock of now). */
  restored(): void {
    this.skews.clear();
    this.latest = Infinity; // unknown: notAfterNow looks
  }

  /**
   * Processing time (runtime.ts notAfterNow): a window holding events later than the wall clock
   * now takes its last one as just before now, so it closes after the time it had left after it
   * (in elapsed time); it waited for the clock to catch up, and NTP's step did not close it until
   * another event came.
   */
  notAfterNow(): void {
    const now = this.host.now();
    const skew = this.host.skew();
    if (now === undefined || skew === undefined || this.latest <= now) return;
    for (const [s, last] of this.groups.panesAfter(now)) if (!this.skews.has(s)) this.skews.set(s, skew + (last - now));
    this.latest = now;
  }

  /** Processing time: the close of pane s in elapsed time; no skew recorded (restored, replayed): by the clock of now. */
  private elapsedDue(s: number): number {
    return s + this.spec.size - (this.skews.get(s) ?? this.host.skew() ?? 0);
  }
}
