// Window state machine for one rule: routes each event to its groups, closes windows (timer in
// processing time, watermark in event time), bounds the state, and checkpoints it. Around it:
// plan.ts (what the compiler hands it), group-state.ts (the groups and their checkpoint form),
// bounded-groups.ts (the groups held, their bytes and eviction), pane-windows.ts (tumbling and
// hopping windows: the panes an event joins, which are due), session-windows.ts (sessions, their
// deadlines, which are due), row-windows.ts (the rows of sliding and count windows), emission.ts
// (HAVING / ORDER BY / LIMIT over the rows of one close), event-time.ts (timestamps; with a
// LATENESS, the events waiting for the watermark, fed in time order).
import type { Message } from '../../core/message.js';
import type { EvalContext } from '../sql/context.js';
import type { WindowEmission, WindowRuntime, WindowStats, WindowedQuery } from '../sql/compile-types.js';
import { keyPart, toStr, type Value } from '../sql/values.js';
import type { Acc, AggContext } from './aggregates.js';
import { outputRows } from './emission.js';
import { BoundedGroups } from './bounded-groups.js';
import { keptMessage, loadGroups, saveGroups, type Closing, type GroupHost, type GroupShape } from './group-state.js';
import { PaneWindows } from './pane-windows.js';
import { SessionWindows } from './session-windows.js';
import type { GroupBytes } from './group-bytes.js';
import type { WindowPlan } from './plan.js';
import { pushRow, rebaseRows, type RowWindow } from './row-windows.js';
import { CloseTimer } from './close-timer.js';
import { EventOrder, toTimestamp } from './event-time.js';

// The compiler imports the plan types with the runner.
export type { AggSlot, WindowPlan } from './plan.js';

const DEFAULT_LIMITS = { maxGroups: 10_000, maxGroupStates: 100_000, maxRowsPerWindow: 10_000, maxGroupBytes: 64 * 1024 * 1024 };

export class WindowRunner implements WindowedQuery {
  readonly stats: WindowStats = { late: 0, evicted: 0, evictedBytes: 0, droppedRows: 0, invalidTimestamps: 0 };
  private rt: WindowRuntime | undefined;
  private readonly timer = new CloseTimer(() => this.onTimer());
  private maxTs = -Infinity;
  /** Event time with LATENESS: events the watermark has not passed yet, in time order. */
  private order = new EventOrder();
  /** Event time: the time of the last event fed to the windows (an older one is late). */
  private fedTs = -Infinity;
  /** The groups (panes, sessions, row groups), the bytes they hold, and their eviction. */
  private readonly groups: BoundedGroups;
  /** The bytes the groups hold (kept messages once, rows), bounded by maxGroupBytes. */
  private readonly held: GroupBytes;
  private readonly aggCtx: AggContext;
  /** The aggregate arguments of the event being fed (scratch, or a pending event's own). */
  private vals: Value[];
  private readonly scratch: Value[];
  /** Some aggregate keeps values (collect, percentile, first/last): count them for maxGroupBytes. */
  private readonly accHold: boolean;
  /** Sliding and count windows: what pushRow needs besides the group, built once (not per event). */
  private readonly rowWindow: RowWindow | undefined;
  /** Tumbling and hopping windows (pane-windows.ts). */
  private readonly panes: PaneWindows | undefined;
  /** Session windows (session-windows.ts). */
  private readonly sessions: SessionWindows | undefined;
  /** The clock of emitted messages, built once (a sliding window emits per event). */
  private readonly clock = (): number => this.now();

  constructor(private readonly plan: WindowPlan) {
    this.aggCtx = { maxRows: DEFAULT_LIMITS.maxRowsPerWindow, onDrop: () => void this.stats.droppedRows++ };
    this.scratch = new Array<Value>(plan.aggs.length);
    this.vals = this.scratch;
    this.accHold = this.newAccs().some((a) => a.bytes !== undefined);
    this.groups = new BoundedGroups(plan.spec.kind, this.stats);
    this.held = this.groups.held;
    const spec = plan.spec;
    if (spec.kind === 'sliding' || spec.kind === 'count') {
      this.rowWindow = { spec, maxRows: DEFAULT_LIMITS.maxRowsPerWindow, held: this.held, stats: this.stats, newAccs: () => this.newAccs() };
      return;
    }
    const host: GroupHost = {
      newAccs: () => this.newAccs(),
      accHold: this.accHold,
      maxGroups: () => this.maxGroups,
      maxGroupStates: () => this.maxGroupStates,
      skew: () => (this.plan.eventTime ? undefined : this.rt?.skew()),
      now: () => (this.plan.eventTime ? undefined : this.rt?.now()),
    };
    if (spec.kind === 'session') this.sessions = new SessionWindows(spec, this.groups, host);
    else this.panes = new PaneWindows(spec, this.groups, host);
  }

  private get maxGroups(): number {
    return this.rt?.maxGroups ?? DEFAULT_LIMITS.maxGroups;
  }

  private get maxGroupStates(): number {
    return this.rt?.maxGroupStates ?? DEFAULT_LIMITS.maxGroupStates;
  }

  private get maxGroupBytes(): number {
    return this.rt?.maxGroupBytes ?? DEFAULT_LIMITS.maxGroupBytes;
  }

  private get maxRows(): number {
    return this.rt?.maxRowsPerWindow ?? DEFAULT_LIMITS.maxRowsPerWindow;
  }

  private now(): number {
    return this.rt ? this.rt.now() : Date.now();
  }

  start(rt: WindowRuntime): void {
    this.rt = rt;
    this.aggCtx.maxRows = rt.maxRowsPerWindow;
    if (this.rowWindow) this.rowWindow.maxRows = rt.maxRowsPerWindow;
    this.enforceBudget(undefined); // a state restored before start, under a lower budget
    this.notAfterNow();
    this.reschedule();
  }

  stop(): void {
    this.timer.cancel(this.rt);
    this.rt = undefined;
  }

  // ---- per event ---------------------------------------------------------------------------

  add(c: EvalContext): WindowEmission[] | undefined {
    const p = this.plan;
    let ts: number;
    if (p.eventTime) {
      const t = toTimestamp(p.eventTime(c));
      if (t === undefined) {
        this.stats.invalidTimestamps++;
        return undefined;
      }
      if (t < this.maxTs - p.lateness || t < this.fedTs) {
        this.stats.late++;
        return undefined;
      }
      ts = t;
    } else {
      ts = this.now();
    }
    let key = '';
    for (let i = 0; i < p.keys.length; i++) key += (i ? '\u0001' : '') + keyPart(toStr(p.keys[i]!(c)) ?? '');
    const vals = this.scratch;
    for (let i = 0; i < p.aggs.length; i++) {
      const a = p.aggs[i]!.arg;
      vals[i] = a ? a(c) : true;
    }
    const msg = keptMessage(c.message);
    if (p.eventTime && p.lateness > 0) return this.addOutOfOrder(ts, key, msg);
    this.vals = vals;
    let out = this.route(ts, key, msg);
    this.enforceBudget(key);
    if (p.eventTime) {
      if (ts > this.maxTs) this.maxTs = ts;
      this.fedTs = ts;
      const more = this.advance(this.maxTs - p.lateness);
      if (more) out = out ? out.concat(more) : more;
    } else if (p.spec.kind === 'tumbling' || p.spec.kind === 'hopping' || p.spec.kind === 'session') {
      this.reschedule();
    }
    return out;
  }

  /**
   * Event time with LATENESS: the event waits, in time order, until the watermark passes it; then
   * the events it passed are fed in time order, each closing what its time closes. Beyond
   * maxRowsPerWindow waiting events the oldest is fed at once (an event older than it is late).
   */
  private addOutOfOrder(ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    this.order.insert({ ts, key, msg, vals: this.scratch.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v)) });
    this.held.hold(msg);
    if (ts > this.maxTs) this.maxTs = ts;
    const wm = this.maxTs - this.plan.lateness;
    let out: WindowEmission[] | undefined;
    const push = (rows: WindowEmission[] | undefined): void => {
      if (rows?.length) (out ??= []).push(...rows);
    };
    // Beyond maxRowsPerWindow waiting events, or maxGroupBytes, the oldest is fed at once.
    const next = () => (this.order.size > this.maxRows || this.held.total > this.maxGroupBytes ? this.order.shift() : this.order.shift(wm));
    for (let e = next(); e; e = next()) {
      this.vals = e.vals;
      push(this.route(e.ts, e.key, e.msg));
      this.held.release(e.msg);
      this.enforceBudget(e.key);
      this.fedTs = e.ts;
      push(this.advance(e.ts));
    }
    this.vals = this.scratch;
    push(this.advance(wm));
    return out;
  }

  /** Feed one event (its aggregate arguments in this.vals) to its groups. */
  private route(ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    const spec = this.plan.spec;
    switch (spec.kind) {
      case 'tumbling':
      case 'hopping':
        this.panes!.add(ts, key, msg, this.vals);
        return undefined;
      case 'session': {
        const closed = this.sessions!.add(ts, key, msg, this.vals);
        return closed ? this.rows([closed]) : undefined;
      }
      case 'sliding':
      case 'count':
        return this.addRows(this.rowWindow!, ts, key, msg);
    }
  }

  private newAccs(): Acc[] {
    return this.plan.aggs.map((a) => a.def.create(a.param, this.aggCtx));
  }

  /** maxGroupBytes: the oldest groups other than `keep` (the one the event joined) go (bounded-groups.ts). */
  private enforceBudget(keep: string | undefined): void {
    this.groups.enforceBudget(keep, this.maxGroupBytes, (info) => this.rt?.onBudgetEvict?.(info));
  }

  private addRows(w: RowWindow, ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    let g = this.groups.rowGroups.get(key);
    if (!g) {
      g = { ts: [], vals: [], head: 0, seen: 0, bytes: 0, last: msg };
      this.groups.addGroup(this.groups.rowGroups, key, g, this.maxGroups);
    } else this.held.swap(g.last, msg);
    if (!this.plan.eventTime && this.rt) rebaseRows(g, this.rt.skew(), ts);
    g.last = msg;
    const closing = pushRow(g, ts, this.vals, w);
    return closing ? this.rows([closing]) : undefined;
  }

  // ---- window close ------------------------------------------------------------------------

  /**
   * Close everything due at time t (now, or the watermark), or, given the elapsed time now (a
   * processing-time timer), due by then; returns the rows in close order.
   */
  private advance(t: number, elapsed?: number): WindowEmission[] | undefined {
    let out: WindowEmission[] | undefined;
    for (const same of (this.panes ?? this.sessions)?.close(t, elapsed) ?? []) {
      const rows = this.rows(same);
      if (rows.length) (out ??= []).push(...rows);
    }
    return out;
  }

  /** Processing time: the next close, in elapsed time. */
  private nextDue(): number {
    return this.panes ? this.panes.nextDue() : this.sessions ? this.sessions.nextDueElapsed : Infinity;
  }

  /** Processing time: one timer per rule at the next window close. */
  private reschedule(): void {
    if (this.rt && !this.plan.eventTime) this.timer.arm(this.rt, this.nextDue());
  }

  /**
   * Processing time: close what is due at rt.now() now, as the timer would, and return the rows
   * instead of emitting them (the replay after a restart, and the catch-up after it).
   */
  tick(): WindowEmission[] | undefined {
    const rt = this.rt;
    if (!rt || this.plan.eventTime) return undefined;
    this.timer.cancel(rt);
    this.notAfterNow();
    const rows = this.advance(rt.now());
    this.reschedule();
    return rows;
  }

  private onTimer(): void {
    const rt = this.rt;
    if (!rt) return;
    // Boundaries are wall time, but a window closes after its time has elapsed: when the wall
    // clock was stepped back (NTP, no RTC), a window opened before the step closes on time rather
    // than when the clock catches up, possibly a year later, even when windows opened after the
    // step close before it. Stepped forward, what is due by the new wall time closes too.
    const rows = this.advance(rt.now(), rt.elapsed());
    this.reschedule();
    if (rows?.length) rt.emit(rows);
  }

  /**
   * Processing time (a restored state, at start and at the catch-up after the replay): a window or
   * session holding events later than the wall clock now was restored by a gateway started on a
   * clock behind it (a Pi's fake-hwclock after a power cut, before NTP). Its last event is taken as
   * just before now: a window closes after the time it had left after it (in elapsed time), a
   * session after its timeout. A 20 s window waited for the clock to catch up (an hour), and NTP's
   * step did not close it until another event came.
   */
  private notAfterNow(): void {
    this.panes?.notAfterNow();
    this.sessions?.notAfterNow();
  }

  /** HAVING, projection, ORDER BY, LIMIT over the groups closing together. */
  private rows(closing: Closing[]): WindowEmission[] {
    return outputRows(this.plan, closing, this.clock);
  }

  // ---- checkpoints -------------------------------------------------------------------------

  private get shape(): GroupShape {
    return { ruleName: this.plan.ruleName, kind: this.plan.spec.kind, aggs: this.plan.aggs.length, newAccs: () => this.newAccs() };
  }

  snapshot(): Buffer {
    return saveGroups(this.shape, {
      maxTs: this.maxTs,
      fedTs: this.fedTs,
      pending: this.order.all(),
      panes: this.groups.panes,
      sessions: this.groups.sessions,
      rowGroups: this.groups.rowGroups,
    });
  }

  restore(bytes: Buffer): void {
    const st = loadGroups(this.shape, bytes);
    this.maxTs = st.maxTs;
    this.fedTs = st.fedTs;
    this.order.replace(st.pending);
    this.groups.load(st, this.order.all());
    this.panes?.restored();
    this.sessions?.restored();
    // What a restored state holds, within maxGroupBytes (a checkpoint of a larger budget, or of a version without it).
    this.enforceBudget(undefined);
    if (this.rt) {
      this.timer.cancel(this.rt);
      this.notAfterNow();
      this.reschedule();
    }
  }
}
