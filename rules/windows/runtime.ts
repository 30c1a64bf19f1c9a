// Window state machine for one rule: groups, window close (timer in processing time, watermark in
// event time), HAVING / ORDER BY / LIMIT over the rows of one close, bounded state, snapshots.
// Time windows (tumbling, hopping) are aligned to multiples of the hop since the epoch (UTC), so
// every group shares the same boundaries and one timer per rule serves them all.
import type { Message } from '../../core/message.js';
import { GatehouseError } from '../../core/errors.js';
import type { EvalContext } from '../sql/context.js';
import type { Compiled, WindowEmission, WindowRuntime, WindowStats, WindowedQuery } from '../sql/compile-types.js';
import { getField, numeric, sqlCompare, toStr, type Value } from '../sql/values.js';
import type { Acc, AggContext, AggDef } from './aggregates.js';
import { loadValue, saveValue } from './checkpoint-values.js';
import { WindowEvalContext } from './context.js';
import type { WindowSpec } from './spec.js';

export interface AggSlot {
  def: AggDef;
  /** Per-event argument; undefined for count(*). */
  arg: Compiled | undefined;
  param?: number;
}

export interface WindowPlan {
  ruleName: string;
  spec: WindowSpec;
  keys: Compiled[];
  eventTime: Compiled | undefined;
  lateness: number;
  aggs: AggSlot[];
  project: Compiled;
  having: ((c: EvalContext) => boolean) | undefined;
  order: Array<{ alias: string | undefined; f: Compiled | undefined; desc: boolean }>;
  limit: number | undefined;
}

/** A group of a time window or a session: incremental accumulators. */
interface AccGroup {
  accs: Acc[];
  last: Message;
  start: number;
  lastTs: number;
}

/** A group of a sliding or count window: the rows themselves (aggregated at emission). */
interface RowGroup {
  ts: number[];
  vals: Value[][];
  head: number;
  seen: number;
  last: Message;
}

interface Closing {
  accs: Value[];
  last: Message;
  start: number;
  end: number;
}

interface SavedMessage {
  t: string;
  p: string;
  q: 0 | 1 | 2;
  r: number;
  s: string;
}

const DEFAULT_LIMITS = { maxGroups: 10_000, maxRowsPerWindow: 10_000 };

function saveMsg(m: Message): SavedMessage {
  return { t: m.topic, p: m.payload.toString('base64'), q: m.qos, r: m.receivedAt, s: m.source.id };
}

function loadMsg(s: SavedMessage): Message {
  return { topic: s.t, payload: Buffer.from(s.p, 'base64'), qos: s.q, receivedAt: s.r, source: { kind: 'internal', id: s.s } };
}

function toTimestamp(v: Value): number | undefined {
  const x = numeric(v);
  if (x !== undefined) return Number.isFinite(x) ? x : undefined;
  if (typeof v === 'string') {
    const n = v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : Date.parse(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export class WindowRunner implements WindowedQuery {
  readonly stats: WindowStats = { late: 0, evicted: 0, droppedRows: 0, invalidTimestamps: 0 };
  private rt: WindowRuntime | undefined;
  private timer: unknown;
  private timerAt = Infinity;
  private maxTs = -Infinity;
  /** Time windows: start -> group key -> accumulators. */
  private panes = new Map<number, Map<string, AccGroup>>();
  /** Sessions, sliding and count windows: group key -> state (Map order = creation order). */
  private sessions = new Map<string, AccGroup>();
  private rowGroups = new Map<string, RowGroup>();
  /** Lower bound of the earliest session deadline (Infinity: none). */
  private nextDeadline = Infinity;
  private readonly aggCtx: AggContext;
  private readonly vals: Value[];

  constructor(private readonly plan: WindowPlan) {
    this.aggCtx = { maxRows: DEFAULT_LIMITS.maxRowsPerWindow, onDrop: () => void this.stats.droppedRows++ };
    this.vals = new Array<Value>(plan.aggs.length);
  }

  private get maxGroups(): number {
    return this.rt?.maxGroups ?? DEFAULT_LIMITS.maxGroups;
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
    this.reschedule();
  }

  stop(): void {
    if (this.timer !== undefined) this.rt?.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
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
      if (t < this.maxTs - p.lateness) {
        this.stats.late++;
        return undefined;
      }
      ts = t;
    } else {
      ts = this.now();
    }
    let key = '';
    for (let i = 0; i < p.keys.length; i++) key += (i ? '\u0001' : '') + (toStr(p.keys[i]!(c)) ?? '');
    const vals = this.vals;
    for (let i = 0; i < p.aggs.length; i++) {
      const a = p.aggs[i]!.arg;
      vals[i] = a ? a(c) : true;
    }
    const msg = c.message;
    const spec = p.spec;
    let out: WindowEmission[] | undefined;
    switch (spec.kind) {
      case 'tumbling':
      case 'hopping':
        this.addTimed(spec.size, spec.hop, ts, key, msg);
        break;
      case 'session':
        out = this.addSession(spec.maxDuration, spec.timeout, ts, key, msg);
        break;
      case 'sliding':
      case 'count':
        out = this.addRows(ts, key, msg);
        break;
    }
    if (p.eventTime) {
      if (ts > this.maxTs) this.maxTs = ts;
      const more = this.advance(this.maxTs - p.lateness);
      if (more) out = out ? out.concat(more) : more;
    } else if (spec.kind === 'tumbling' || spec.kind === 'hopping' || spec.kind === 'session') {
      this.reschedule();
    }
    return out;
  }

  private newAccs(): Acc[] {
    return this.plan.aggs.map((a) => a.def.create(a.param, this.aggCtx));
  }

  private addTimed(size: number, hop: number, ts: number, key: string, msg: Message): void {
    for (let s = Math.floor(ts / hop) * hop; s + size > ts; s -= hop) {
      let pane = this.panes.get(s);
      if (!pane) this.panes.set(s, (pane = new Map()));
      let g = pane.get(key);
      if (!g) {
        if (pane.size >= this.maxGroups) this.evictOldest(pane);
        g = { accs: this.newAccs(), last: msg, start: s, lastTs: ts };
        pane.set(key, g);
      }
      this.feed(g.accs);
      g.last = msg;
      g.lastTs = ts;
    }
  }

  private feed(accs: Acc[]): void {
    for (let i = 0; i < accs.length; i++) accs[i]!.add(this.vals[i]);
  }

  private evictOldest(m: Map<string, unknown>): void {
    const first = m.keys().next();
    if (!first.done) {
      m.delete(first.value);
      this.stats.evicted++;
    }
  }

  private addSession(maxDuration: number, timeout: number, ts: number, key: string, msg: Message): WindowEmission[] | undefined {
    let g = this.sessions.get(key);
    let out: WindowEmission[] | undefined;
    if (g && (ts - g.lastTs >= timeout || ts - g.start >= maxDuration)) {
      // Its close was due (a late timer, or event time): emit it before opening the next one.
      this.sessions.delete(key);
      out = this.rows([this.closing(g, this.deadline(g))]);
      g = undefined;
    }
    if (!g) {
      if (this.sessions.size >= this.maxGroups) this.evictOldest(this.sessions);
      g = { accs: this.newAccs(), last: msg, start: ts, lastTs: ts };
      this.sessions.set(key, g);
    }
    this.feed(g.accs);
    g.last = msg;
    if (ts > g.lastTs) g.lastTs = ts;
    const d = this.deadline(g);
    if (d < this.nextDeadline) this.nextDeadline = d;
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
      g = { ts: [], vals: [], head: 0, seen: 0, last: msg };
      this.rowGroups.set(key, g);
    }
    g.ts.push(ts);
    g.vals.push(this.vals.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v)));
    g.last = msg;
    g.seen++;
    const spec = this.plan.spec;
    const keep = spec.kind === 'count' ? spec.n : this.maxRows;
    if (spec.kind === 'sliding') {
      while (g.head < g.ts.length && g.ts[g.head]! <= ts - spec.size) g.head++;
    }
    while (g.ts.length - g.head > keep) {
      g.head++;
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
    }
    return em;
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

  /** Close everything due at time t (now, or the watermark); returns the rows in close order. */
  private advance(t: number): WindowEmission[] | undefined {
    const spec = this.plan.spec;
    let out: WindowEmission[] | undefined;
    if (spec.kind === 'tumbling' || spec.kind === 'hopping') {
      const due = [...this.panes.keys()].filter((s) => s + spec.size <= t).sort((a, b) => a - b);
      for (const s of due) {
        const pane = this.panes.get(s)!;
        this.panes.delete(s);
        const rows = this.rows([...pane.values()].map((g) => this.closing(g, s + spec.size)));
        if (rows.length) (out ??= []).push(...rows);
      }
    } else if (spec.kind === 'session' && t >= this.nextDeadline) {
      const closing: Closing[] = [];
      let next = Infinity;
      for (const [k, g] of this.sessions) {
        const d = this.deadline(g);
        if (d <= t) {
          this.sessions.delete(k);
          closing.push(this.closing(g, d));
        } else if (d < next) {
          next = d;
        }
      }
      this.nextDeadline = next;
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

  private nextDue(): number {
    const spec = this.plan.spec;
    if (spec.kind === 'tumbling' || spec.kind === 'hopping') {
      let m = Infinity;
      for (const s of this.panes.keys()) if (s + spec.size < m) m = s + spec.size;
      return m;
    }
    return spec.kind === 'session' ? this.nextDeadline : Infinity;
  }

  /** Processing time: one timer per rule at the next window close. */
  private reschedule(): void {
    const rt = this.rt;
    if (!rt || this.plan.eventTime) return;
    const due = this.nextDue();
    if (due >= this.timerAt) return;
    if (this.timer !== undefined) rt.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = due;
    if (due === Infinity) return;
    this.timer = rt.setTimer(this.onTimer, due - rt.now());
  }

  /**
   * Processing time: close what is due at rt.now() now, as the timer would, and return the rows
   * instead of emitting them (the replay after a restart, and the catch-up after it).
   */
  tick(): WindowEmission[] | undefined {
    const rt = this.rt;
    if (!rt || this.plan.eventTime) return undefined;
    if (this.timer !== undefined) rt.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    const rows = this.advance(rt.now());
    this.reschedule();
    return rows;
  }

  private onTimer = (): void => {
    const rt = this.rt;
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!rt) return;
    const rows = this.advance(rt.now());
    this.reschedule();
    if (rows?.length) rt.emit(rows);
  };

  /** HAVING, projection, ORDER BY, LIMIT over the groups closing together. */
  private rows(closing: Closing[]): WindowEmission[] {
    const p = this.plan;
    const kept: Array<{ value: Value; message: Message; keys: Value[] }> = [];
    for (const cl of closing) {
      const ctx = new WindowEvalContext(cl.last, cl.accs, cl.start, cl.end);
      if (p.having && !p.having(ctx)) continue;
      const value = p.project(ctx);
      if (value === undefined) continue;
      const keys = p.order.map((o) => (o.alias !== undefined ? getField(value, o.alias) : o.f!(ctx)));
      kept.push({ value, message: { ...cl.last, receivedAt: this.now(), source: { kind: 'internal', id: p.ruleName } }, keys });
    }
    if (p.order.length && kept.length > 1) {
      kept.sort((a, b) => {
        for (let i = 0; i < p.order.length; i++) {
          const x = a.keys[i];
          const y = b.keys[i];
          if (x === undefined || y === undefined) {
            if (x === y) continue;
            return x === undefined ? 1 : -1; // missing values sort last either way
          }
          const s = sqlCompare(x, y) ?? 0;
          if (s !== 0) return p.order[i]!.desc ? -s : s;
        }
        return 0;
      });
    }
    const n = p.limit !== undefined ? Math.min(p.limit, kept.length) : kept.length;
    const out: WindowEmission[] = new Array<WindowEmission>(n);
    for (let i = 0; i < n; i++) out[i] = { value: kept[i]!.value, message: kept[i]!.message };
    return out;
  }

  // ---- checkpoints -------------------------------------------------------------------------

  snapshot(): Buffer {
    const accGroup = (g: AccGroup): unknown => [g.start, g.lastTs, g.accs.map((a) => a.save()), saveMsg(g.last)];
    const state = {
      // 2: row values saved with saveValue (1: as JSON.stringify wrote them, whole Decimals as Ints).
      v: 2,
      kind: this.plan.spec.kind,
      aggs: this.plan.aggs.length,
      maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null,
      panes: [...this.panes].map(([s, pane]) => [s, [...pane].map(([k, g]) => [k, accGroup(g)])]),
      sessions: [...this.sessions].map(([k, g]) => [k, accGroup(g)]),
      rows: [...this.rowGroups].map(([k, g]) => [k, g.ts.slice(g.head), g.vals.slice(g.head).map((row) => row.map(saveValue)), g.seen, saveMsg(g.last)]),
    };
    return Buffer.from(JSON.stringify(state), 'utf8');
  }

  restore(bytes: Buffer): void {
    type G = [number, number, unknown[], SavedMessage];
    let st: {
      v: number;
      kind: string;
      aggs: number;
      maxTs: number | null;
      panes: Array<[number, Array<[string, G]>]>;
      sessions: Array<[string, G]>;
      rows: Array<[string, number[], unknown[][], number, SavedMessage]>;
    };
    try {
      st = JSON.parse(bytes.toString('utf8')) as typeof st;
    } catch (err) {
      throw new GatehouseError('GH_STORE_CORRUPT', `window state of rule ${this.plan.ruleName} is not valid JSON`, { where: 'window checkpoint', cause: err });
    }
    if ((st?.v !== 1 && st?.v !== 2) || st.kind !== this.plan.spec.kind || st.aggs !== this.plan.aggs.length) {
      throw new GatehouseError('GH_STORE_CORRUPT', `window state of rule ${this.plan.ruleName} does not match its SQL`, {
        where: 'window checkpoint',
        hint: 'the state is ignored; windows start empty',
      });
    }
    const accGroup = (g: G): AccGroup => {
      const accs = this.newAccs();
      accs.forEach((a, i) => a.load(g[2][i]));
      return { start: g[0], lastTs: g[1], accs, last: loadMsg(g[3]) };
    };
    this.maxTs = st.maxTs ?? -Infinity;
    this.panes = new Map(st.panes.map(([s, groups]) => [s, new Map(groups.map(([k, g]) => [k, accGroup(g)]))]));
    this.sessions = new Map(st.sessions.map(([k, g]) => [k, accGroup(g)]));
    this.nextDeadline = Infinity;
    for (const g of this.sessions.values()) this.nextDeadline = Math.min(this.nextDeadline, this.deadline(g));
    const loadRow = st.v === 1 ? (row: unknown[]): Value[] => row : (row: unknown[]): Value[] => row.map(loadValue);
    this.rowGroups = new Map(st.rows.map(([k, ts, vals, seen, m]) => [k, { ts, vals: vals.map(loadRow), head: 0, seen, last: loadMsg(m) }]));
    if (this.rt) {
      if (this.timer !== undefined) this.rt.clearTimer(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      this.reschedule();
    }
  }
}
