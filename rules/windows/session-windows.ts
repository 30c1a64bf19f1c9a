// The sessions of a SESSIONWINDOW rule: a group's session opens at its first event and closes
// `timeout` after its last one or `maxDuration` after its start. This file owns a session's
// deadline, opening one (closing first the one whose close was due: a late timer, event time), and
// which sessions are due, in deadline order. The groups themselves (which exist, their bounds) are
// bounded-groups.ts's; feeding their accumulators, the output rows and the timer are the runner's
// (runtime.ts), reached through a GroupHost it builds once.
import type { Message } from '../../core/message.js';
import type { Value } from '../sql/values.js';
import type { BoundedGroups } from './bounded-groups.js';
import { closingOf, feedGroup, type AccGroup, type Closing, type GroupHost } from './group-state.js';
import type { WindowSpec } from './spec.js';

export type SessionSpec = Extract<WindowSpec, { kind: 'session' }>;

export class SessionWindows {
  /** Lower bound of the earliest session deadline (Infinity: none). */
  private nextDeadline = Infinity;
  /** Processing time: lower bound of the earliest session close, in elapsed time. */
  nextDueElapsed = Infinity;
  /** Upper bound of the sessions' last event times (-Infinity: none). */
  private latest = -Infinity;

  constructor(
    private readonly spec: SessionSpec,
    private readonly groups: BoundedGroups,
    private readonly host: GroupHost,
  ) {}

  /** The event (its aggregate arguments `vals`) joins its group's session; returns the session that closed first (it was due). */
  add(ts: number, key: string, msg: Message, vals: readonly Value[]): Closing | undefined {
    const { groups, host } = this;
    let g = groups.sessions.get(key);
    let closed: Closing | undefined;
    if (g && (ts - g.lastTs >= this.spec.timeout || ts - g.start >= this.spec.maxDuration)) {
      // Its close was due (a late timer, or event time): emit it before opening the next one.
      groups.closeSession(key, g);
      closed = closingOf(g, this.deadline(g));
      g = undefined;
    }
    if (!g) {
      g = { accs: host.newAccs(), last: msg, start: ts, lastTs: ts };
      groups.addGroup(groups.sessions, key, g, host.maxGroups());
    } else groups.held.swap(g.last, msg);
    feedGroup(g, vals, groups.held, host.accHold);
    g.last = msg;
    if (ts > this.latest) this.latest = ts;
    if (ts > g.lastTs || g.skew === undefined) {
      g.lastTs = Math.max(g.lastTs, ts);
      // The clock its deadline is in (an event after a backward step does not move it).
      g.skew = host.skew();
    }
    const d = this.deadline(g);
    if (d < this.nextDeadline) this.nextDeadline = d;
    const de = this.elapsedDue(d, g.skew);
    if (de < this.nextDueElapsed) this.nextDueElapsed = de;
    return closed;
  }

  /**
   * The sessions due at time t (now, or the watermark), or, given the elapsed time now (a
   * processing-time timer), due by then: they leave the state; returned one array per deadline in
   * deadline order (ORDER BY / LIMIT apply per close, as timers firing on time would do, so a late
   * timer or a replay closes them the same way). Undefined: none due.
   */
  close(t: number, elapsed: number | undefined): Closing[][] | undefined {
    if (t < this.nextDeadline && (elapsed === undefined || elapsed < this.nextDueElapsed)) return undefined;
    const closing: Closing[] = [];
    let next = Infinity;
    let nextElapsed = Infinity;
    for (const [k, g] of this.groups.sessions) {
      const d = this.deadline(g);
      const de = this.elapsedDue(d, g.skew);
      if (d <= t || (elapsed !== undefined && de <= elapsed)) {
        this.groups.closeSession(k, g);
        closing.push(closingOf(g, d));
      } else {
        next = Math.min(next, d);
        nextElapsed = Math.min(nextElapsed, de);
      }
    }
    this.nextDeadline = next;
    this.nextDueElapsed = nextElapsed;
    closing.sort((a, b) => a.end - b.end);
    const out: Closing[][] = [];
    for (let i = 0; i < closing.length; ) {
      let k = i + 1;
      while (k < closing.length && closing[k]!.end === closing[i]!.end) k++;
      out.push(closing.slice(i, k));
      i = k;
    }
    return out;
  }

  /** After a restore: the earliest deadline of the sessions restored (their clock is now's). */
  restored(): void {
    this.nextDeadline = Infinity;
    this.latest = -Infinity;
    for (const g of this.groups.sessions.values()) {
      this.nextDeadline = Math.min(this.nextDeadline, this.deadline(g));
      this.latest = Math.max(this.latest, g.lastTs);
    }
    this.nextDueElapsed = this.nextDeadline - (this.host.skew() ?? 0);
  }

  /**
   * Processing time (runtime.ts notAfterNow): a session whose last event is later than the wall
   * clock now takes it as just before now, so it closes after its timeout; it swallowed every event
   * of the hour the clock was behind as one session, and NTP's step forward later did not close it
   * (its timer was an hour out).
   */
  notAfterNow(): void {
    const now = this.host.now();
    if (now === undefined || this.latest <= now) return;
    for (const g of this.groups.sessions.values()) {
      if (g.lastTs <= now) continue;
      g.start += now - g.lastTs;
      g.lastTs = now;
      g.skew = undefined;
    }
    this.latest = now;
    this.restored();
  }

  private deadline(g: AccGroup): number {
    return Math.min(g.lastTs + this.spec.timeout, g.start + this.spec.maxDuration);
  }

  /** Processing time: a close due at wall time `wall` by the clock of `skew`, in elapsed time. */
  private elapsedDue(wall: number, skew: number | undefined): number {
    // No skew recorded (state restored or replayed): due by the wall clock of now.
    return wall - (skew ?? this.host.skew() ?? 0);
  }
}
