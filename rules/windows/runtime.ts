// Window state machine for one rule: routes each event to its groups, closes windows (timer in
// processing time, watermark in event time), bounds the state, and checkpoints it. Time windows
// (tumbling, hopping) are aligned to multiples of the hop since the epoch (UTC), so every group
// shares the same boundaries and one timer per rule serves them all. Around it: plan.ts (what the
// compiler hands it), group-state.ts (the groups and their checkpoint form), emission.ts (HAVING /
// ORDER BY / LIMIT over the rows of one close), event-time.ts (timestamps; with a LATENESS, the
// events waiting for the watermark, fed in time order).
import type { Message } from '../../core/message.js';
import type { EvalContext } from '../sql/context.js';
import type { WindowEmission, WindowRuntime, WindowStats, WindowedQuery } from '../sql/compile-types.js';
import { keyPart, toStr, type Value } from '../sql/values.js';
import type { Acc, AggContext } from './aggregates.js';
import { outputRows } from './emission.js';
import { keptMessage, loadGroups, saveGroups, type AccGroup, type Closing, type GroupShape, type RowGroup } from './group-state.js';
import { accBytes, GroupBytes, rowBytes } from './group-bytes.js';
import type { WindowPlan } from './plan.js';
import type { WindowSpec } from './spec.js';
import { CloseTimer } from './close-timer.js';
import { EventOrder, toTimestamp } from './event-time.js';

// The compiler imports the plan types with the runner.
export type { AggSlot, WindowPlan } from './plan.js';

const DEFAULT_LIMITS = { maxGroups: 10_000, maxGroupStates: 100_000, maxRowsPerWindow: 10_000, maxGroupBytes: 64 * 1024 * 1024 };

/** A change of (wall clock - elapsed time) at least this large is a clock step (ms). */
const STEP_MS = 1000;

export class WindowRunner implements WindowedQuery {
  readonly stats: WindowStats = { late: 0, evicted: 0, evictedBytes: 0, droppedRows: 0, invalidTimestamps: 0 };
  private rt: WindowRuntime | undefined;
  private readonly timer = new CloseTimer(() => this.onTimer());
  /**
   * Processing time: the wall clock minus elapsed time when each pane opened. Boundaries are wall
   * time (aligned to the epoch, checkpointed, replayed); a pane's close is due `end - skew` in
   * elapsed time, so a window had its time even when the wall clock stepped since it opened.
   */
  private paneSkew = new Map<number, number>();
  /** Processing time: lower bound of the earliest session close, in elapsed time. */
  private nextDueElapsed = Infinity;
  private maxTs = -Infinity;
  /** Event time with LATENESS: events the watermark has not passed yet, in time order. */
  private order = new EventOrder();
  /** Event time: the time of the last event fed to the windows (an older one is late). */
  private fedTs = -Infinity;
  /** Time windows: start -> group key -> accumulators. */
  private panes = new Map<number, Map<string, AccGroup>>();
  /** Time windows: the groups of every open pane (bounded by maxGroupStates). */
  private paneGroups = 0;
  /** Time windows: group key -> open panes holding it (Map order = creation order: maxGroupBytes evicts the oldest). */
  private paneKeys = new Map<string, number>();
  /** The bytes the groups hold (kept messages once, rows), bounded by maxGroupBytes. */
  private readonly held = new GroupBytes();
  /** Sessions, sliding and count windows: group key -> state (Map order = creation order). */
  private sessions = new Map<string, AccGroup>();
  private rowGroups = new Map<string, RowGroup>();
  /** Lower bound of the earliest session deadline (Infinity: none). */
  private nextDeadline = Infinity;
  private readonly aggCtx: AggContext;
  /** The aggregate arguments of the event being fed (scratch, or a pending event's own). */
  private vals: Value[];
  private readonly scratch: Value[];
  /** Some aggregate keeps values (collect, percentile, first/last): count them for maxGroupBytes. */
  private readonly accHold: boolean;

  constructor(private readonly plan: WindowPlan) {
    this.aggCtx = { maxRows: DEFAULT_LIMITS.maxRowsPerWindow, onDrop: () => void this.stats.droppedRows++ };
    this.scratch = new Array<Value>(plan.aggs.length);
    this.vals = this.scratch;
    this.accHold = this.newAccs().some((a) => a.bytes !== undefined);
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
    this.enforceBudget(undefined); // a state restored before start, under a lower budget
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
        this.addTimed(spec.size, spec.hop, ts, key, msg);
        return undefined;
      case 'session':
        return this.addSession(spec.maxDuration, spec.timeout, ts, key, msg);
      case 'sliding':
      case 'count':
        return this.addRows(ts, key, msg);
    }
  }

  private newAccs(): Acc[] {
    return this.plan.aggs.map((a) => a.def.create(a.param, this.aggCtx));
  }

  private addTimed(size: number, hop: number, ts: number, key: string, msg: Message): void {
    // At most size/hop windows (<= 1000), whatever the arithmetic does.
    const n = Math.ceil(size / hop);
    for (let k = 0, s = Math.floor(ts / hop) * hop; k < n && s + size > ts; k++, s -= hop) {
      let pane = this.panes.get(s);
      if (!pane) {
        this.panes.set(s, (pane = new Map()));
        if (!this.plan.eventTime && this.rt) this.paneSkew.set(s, this.rt.skew());
      }
      let g = pane.get(key);
      if (!g) {
        if (pane.size >= this.maxGroups || this.paneGroups >= this.maxGroupStates) this.evictPaneGroup(pane);
        g = { accs: this.newAccs(), last: msg, start: s, lastTs: ts };
        pane.set(key, g);
        this.paneGroups++;
        this.paneKeys.set(key, (this.paneKeys.get(key) ?? 0) + 1);
        this.held.hold(msg);
      } else this.held.swap(g.last, msg);
      this.feedGroup(g);
      g.last = msg;
      g.lastTs = ts;
    }
  }

  private feed(accs: Acc[]): void {
    for (let i = 0; i < accs.length; i++) accs[i]!.add(this.vals[i]);
  }

  /** Feed a group's accumulators and count what they hold (collect, percentile, first/last). */
  private feedGroup(g: AccGroup): void {
    this.feed(g.accs);
    if (!this.accHold) return;
    const b = accBytes(g.accs);
    this.held.rows(b - (g.bytes ?? 0));
    g.bytes = b;
  }

  /** Evict the oldest group of m (sessions, rows), or of a pane (its caller keeps paneGroups). */
  private evictOldest(m: Map<string, AccGroup | RowGroup>): void {
    const first = m.entries().next();
    if (!first.done) {
      m.delete(first.value[0]);
      this.forget(first.value[0], first.value[1]);
      this.stats.evicted++;
    }
  }

  /** A group left the state (closed or evicted): what it held is no longer counted. */
  private forget(key: string, g: AccGroup | RowGroup): void {
    this.held.release(g.last);
    this.held.rows(-(g.bytes ?? 0));
    if ('ts' in g) return;
    if (this.plan.spec.kind === 'tumbling' || this.plan.spec.kind === 'hopping') {
      const n = (this.paneKeys.get(key) ?? 1) - 1;
      if (n > 0) this.paneKeys.set(key, n);
      else this.paneKeys.delete(key);
    }
  }

  /**
   * maxGroupBytes: while the groups hold more, the oldest created group other than `keep` (the
   * one the event joined) is evicted; for a time window, the key in every open window, which is
   * what frees the message its windows share. Counted, and logged at a bounded rate.
   */
  private enforceBudget(keep: string | undefined): void {
    const limit = this.maxGroupBytes;
    if (this.held.total <= limit) return;
    const before = this.held.total;
    let n = 0;
    while (this.held.total > limit) {
      const k = this.evictForBytes(keep);
      if (k === 0) break;
      n += k;
    }
    if (n === 0) return;
    this.stats.evicted += n;
    this.stats.evictedBytes += n;
    this.rt?.onBudgetEvict?.({ evicted: n, bytes: before, maxGroupBytes: limit });
  }

  private evictForBytes(keep: string | undefined): number {
    const spec = this.plan.spec;
    if (spec.kind === 'tumbling' || spec.kind === 'hopping') {
      for (const key of this.paneKeys.keys()) {
        if (key === keep) continue;
        let n = 0;
        for (const pane of this.panes.values()) {
          const g = pane.get(key);
          if (!g) continue;
          pane.delete(key);
          this.held.release(g.last);
          this.held.rows(-(g.bytes ?? 0));
          this.paneGroups--;
          n++;
        }
        this.paneKeys.delete(key);
        return n;
      }
      return 0;
    }
    const m: Map<string, AccGroup | RowGroup> = spec.kind === 'session' ? this.sessions : this.rowGroups;
    for (const [key, g] of m) {
      if (key === keep) continue;
      m.delete(key);
      this.forget(key, g);
      return 1;
    }
    return 0;
  }

  /**
   * Room for a group in `pane`: its oldest group goes, or, when it has none (a new window), the
   * oldest group of the oldest window: a hopping window's event is in size/hop windows, so the
   * windows together hold up to maxGroupStates groups, not maxGroups x size/hop.
   */
  private evictPaneGroup(pane: Map<string, AccGroup>): void {
    let from = pane;
    if (from.size === 0) {
      const oldest = Math.min(...[...this.panes].filter(([, p]) => p.size > 0).map(([s]) => s));
      from = this.panes.get(oldest) ?? pane;
    }
    if (from.size === 0) return;
    this.evictOldest(from);
    this.paneGroups--;
  }

  private addSession(maxDuration: number, timeout: number, ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    let g = this.sessions.get(key);
    let out: WindowEmission[] | undefined;
    if (g && (ts - g.lastTs >= timeout || ts - g.start >= maxDuration)) {
      // Its close was due (a late timer, or event time): emit it before opening the next one.
      this.sessions.delete(key);
      this.forget(key, g);
      out = this.rows([this.closing(g, this.deadline(g))]);
      g = undefined;
    }
    if (!g) {
      if (this.sessions.size >= this.maxGroups) this.evictOldest(this.sessions);
      g = { accs: this.newAccs(), last: msg, start: ts, lastTs: ts };
      this.sessions.set(key, g);
      this.held.hold(msg);
    } else this.held.swap(g.last, msg);
    this.feedGroup(g);
    g.last = msg;
    if (ts > g.lastTs || g.skew === undefined) {
      g.lastTs = Math.max(g.lastTs, ts);
      // The clock its deadline is in (an event after a backward step does not move it).
      if (!this.plan.eventTime && this.rt) g.skew = this.rt.skew();
    }
    const d = this.deadline(g);
    if (d < this.nextDeadline) this.nextDeadline = d;
    const de = this.elapsedDue(d, g.skew);
    if (de < this.nextDueElapsed) this.nextDueElapsed = de;
    return out;
  }

  private deadline(g: AccGroup): number {
    const spec = this.plan.spec as Extract<WindowSpec, { kind: 'session' }>;
    return Math.min(g.lastTs + spec.timeout, g.start + spec.maxDuration);
  }

  private addRows(ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    let g = this.rowGroups.get(key);
    if (!g) {
      if (this.rowGroups.size >= this.maxGroups) this.evictOldest(this.rowGroups);
      g = { ts: [], vals: [], head: 0, seen: 0, bytes: 0, last: msg };
      this.rowGroups.set(key, g);
      this.held.hold(msg);
    } else this.held.swap(g.last, msg);
    if (!this.plan.eventTime && this.rt) this.rebaseRows(g, this.rt.skew());
    const row = this.vals.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
    g.ts.push(ts);
    g.vals.push(row);
    this.rowHeld(g, rowBytes(row));
    g.last = msg;
    g.seen++;
    const spec = this.plan.spec;
    const keep = spec.kind === 'count' ? spec.n : this.maxRows;
    if (spec.kind === 'sliding') {
      while (g.head < g.ts.length && g.ts[g.head]! <= ts - spec.size) this.dropHead(g);
    }
    while (g.ts.length - g.head > keep) {
      this.dropHead(g);
      if (spec.kind === 'sliding') this.stats.droppedRows++;
    }
    if (g.head > 64 && g.head * 2 > g.ts.length) {
      g.ts = g.ts.slice(g.head);
      g.vals = g.vals.slice(g.head);
      g.head = 0;
    }
    if (spec.kind !== 'count') return this.rows([this.closeRows(g, ts - (spec.kind === 'sliding' ? spec.size : 0), ts)]);
    if (g.seen % spec.hop !== 0 || g.ts.length - g.head < spec.n) return undefined;
    const em = this.rows([this.closeRows(g, g.ts[g.head]!, ts)]);
    if (spec.hop === spec.n) {
      g.ts = [];
      g.vals = [];
      g.head = 0;
      this.rowHeld(g, -g.bytes);
    }
    return em;
  }

  private rowHeld(g: RowGroup, delta: number): void {
    g.bytes += delta;
    this.held.rows(delta);
  }

  /** The oldest row of g leaves it. */
  private dropHead(g: RowGroup): void {
    this.rowHeld(g, -rowBytes(g.vals[g.head]!));
    g.head++;
  }

  /**
   * Processing time: the rows of a group are stamped by the wall clock. After the clock was
   * stepped (NTP's first sync on a Pi without an RTC, an operator), the rows from before the step
   * are moved by the step, so they leave a sliding window after their elapsed time: stepped back
   * an hour, they stayed in every row for an hour; stepped forward, they all left at once.
   */
  private rebaseRows(g: RowGroup, skew: number): void {
    const step = g.skew === undefined ? 0 : skew - g.skew;
    g.skew = skew;
    // NTP slews smoothly (at most 0.5 ms/s); a difference this large is a step.
    if (Math.abs(step) < STEP_MS) return;
    for (let r = g.head; r < g.ts.length; r++) g.ts[r] = g.ts[r]! + step;
  }

  private closeRows(g: RowGroup, start: number, end: number): Closing {
    const accs = this.newAccs();
    for (let r = g.head; r < g.ts.length; r++) {
      const v = g.vals[r]!;
      for (let i = 0; i < accs.length; i++) accs[i]!.add(v[i]);
    }
    return { accs: accs.map((a) => a.result()), last: g.last, start, end };
  }

  private closing(g: AccGroup, end: number): Closing {
    return { accs: g.accs.map((a) => a.result()), last: g.last, start: g.start, end };
  }

  // ---- window close ------------------------------------------------------------------------

  /**
   * Close everything due at time t (now, or the watermark), or, given the elapsed time now (a
   * processing-time timer), due by then; returns the rows in close order.
   */
  private advance(t: number, elapsed?: number): WindowEmission[] | undefined {
    const spec = this.plan.spec;
    let out: WindowEmission[] | undefined;
    const due = (wall: number, skew: number | undefined): boolean => wall <= t || (elapsed !== undefined && this.elapsedDue(wall, skew) <= elapsed);
    if (spec.kind === 'tumbling' || spec.kind === 'hopping') {
      const closing = [...this.panes.keys()].filter((s) => due(s + spec.size, this.paneSkew.get(s))).sort((a, b) => a - b);
      for (const s of closing) {
        const pane = this.panes.get(s)!;
        this.panes.delete(s);
        this.paneGroups -= pane.size;
        for (const [k, g] of pane) this.forget(k, g);
        this.paneSkew.delete(s);
        const rows = this.rows([...pane.values()].map((g) => this.closing(g, s + spec.size)));
        if (rows.length) (out ??= []).push(...rows);
      }
    } else if (spec.kind === 'session' && (t >= this.nextDeadline || (elapsed !== undefined && elapsed >= this.nextDueElapsed))) {
      const closing: Closing[] = [];
      let next = Infinity;
      let nextElapsed = Infinity;
      for (const [k, g] of this.sessions) {
        const d = this.deadline(g);
        if (due(d, g.skew)) {
          this.sessions.delete(k);
          this.forget(k, g);
          closing.push(this.closing(g, d));
        } else {
          next = Math.min(next, d);
          nextElapsed = Math.min(nextElapsed, this.elapsedDue(d, g.skew));
        }
      }
      this.nextDeadline = next;
      this.nextDueElapsed = nextElapsed;
      closing.sort((a, b) => a.end - b.end);
      // One close per deadline (ORDER BY / LIMIT apply per close), as timers firing on time would
      // do, so a late timer or a replay closes them the same way.
      for (let i = 0; i < closing.length; ) {
        let k = i + 1;
        while (k < closing.length && closing[k]!.end === closing[i]!.end) k++;
        const rows = this.rows(closing.slice(i, k));
        if (rows.length) (out ??= []).push(...rows);
        i = k;
      }
    }
    return out;
  }

  /** Processing time: a close due at wall time `wall` by the clock of `skew`, in elapsed time. */
  private elapsedDue(wall: number, skew: number | undefined): number {
    // No skew recorded (state restored or replayed): due by the wall clock of now.
    return wall - (skew ?? this.rt?.skew() ?? 0);
  }

  /** Processing time: the next close, in elapsed time. */
  private nextDue(): number {
    const spec = this.plan.spec;
    if (spec.kind === 'tumbling' || spec.kind === 'hopping') {
      let m = Infinity;
      for (const s of this.panes.keys()) m = Math.min(m, this.elapsedDue(s + spec.size, this.paneSkew.get(s)));
      return m;
    }
    return spec.kind === 'session' ? this.nextDueElapsed : Infinity;
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

  /** HAVING, projection, ORDER BY, LIMIT over the groups closing together. */
  private rows(closing: Closing[]): WindowEmission[] {
    return outputRows(this.plan, closing, () => this.now());
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
      panes: this.panes,
      sessions: this.sessions,
      rowGroups: this.rowGroups,
    });
  }

  /** What a restored state holds, within maxGroupBytes (a checkpoint of a larger budget, or of a version without it). */
  private recount(): void {
    this.held.clear();
    this.paneKeys.clear();
    for (const e of this.order.all()) this.held.hold(e.msg);
    for (const pane of this.panes.values())
      for (const [k, g] of pane) {
        this.recountAccs(g);
        this.paneKeys.set(k, (this.paneKeys.get(k) ?? 0) + 1);
      }
    for (const g of this.sessions.values()) this.recountAccs(g);
    for (const g of this.rowGroups.values()) {
      this.held.hold(g.last);
      g.bytes = 0;
      for (let r = g.head; r < g.vals.length; r++) this.rowHeld(g, rowBytes(g.vals[r]!));
    }
    this.enforceBudget(undefined);
  }

  private recountAccs(g: AccGroup): void {
    this.held.hold(g.last);
    g.bytes = accBytes(g.accs);
    this.held.rows(g.bytes);
  }

  restore(bytes: Buffer): void {
    const st = loadGroups(this.shape, bytes);
    this.maxTs = st.maxTs;
    this.fedTs = st.fedTs;
    this.order.replace(st.pending);
    this.panes = st.panes;
    this.paneGroups = 0;
    for (const pane of this.panes.values()) this.paneGroups += pane.size;
    this.sessions = st.sessions;
    this.paneSkew.clear();
    this.nextDeadline = Infinity;
    for (const g of this.sessions.values()) this.nextDeadline = Math.min(this.nextDeadline, this.deadline(g));
    this.nextDueElapsed = this.nextDeadline - (this.rt?.skew() ?? 0);
    this.rowGroups = st.rowGroups;
    this.recount();
    if (this.rt) {
      this.timer.cancel(this.rt);
      this.reschedule();
    }
  }
}
