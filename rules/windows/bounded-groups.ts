// The groups of one window runner (runtime.ts) and the bounds of its memory: the groups it holds
// (the panes of time windows, sessions, the row groups of sliding and count windows), the bytes
// they hold (group-bytes.ts), and which groups go when a bound is reached: maxGroups per window
// and maxGroupStates over the open windows when a group is added, maxGroupBytes over them all
// (the oldest created groups go, counted and reported). A restored state is counted here too.
// The runner decides which groups an event joins and when a window closes; this file what stays.
import type { WindowRuntime, WindowStats } from '../sql/compile-types.js';
import { accBytes, GroupBytes, rowBytes } from './group-bytes.js';
import type { AccGroup, GroupState, RowGroup } from './group-state.js';
import type { PendingEvent } from './event-time.js';
import { rowHeld } from './row-windows.js';
import type { WindowSpec } from './spec.js';

export class BoundedGroups {
  /** The bytes the groups hold (kept messages once, rows), bounded by maxGroupBytes. */
  readonly held = new GroupBytes();
  /** Time windows: start -> group key -> accumulators (replaced by load() only). */
  panes = new Map<number, Map<string, AccGroup>>();
  /** Sessions: group key -> state (Map order = creation order; replaced by load() only). */
  sessions = new Map<string, AccGroup>();
  /** Sliding and count windows: group key -> rows (Map order = creation order; replaced by load() only). */
  rowGroups = new Map<string, RowGroup>();
  /** Time windows: the groups of every open pane (bounded by maxGroupStates). */
  private paneGroups = 0;
  /** Time windows: group key -> open panes holding it (Map order = creation order: maxGroupBytes evicts the oldest). */
  private readonly paneKeys = new Map<string, number>();
  /** Tumbling or hopping windows (groups in panes). */
  private readonly timed: boolean;

  constructor(
    private readonly kind: WindowSpec['kind'],
    private readonly stats: WindowStats,
  ) {
    this.timed = kind === 'tumbling' || kind === 'hopping';
  }

  /** A new group of key in pane, after room is made in it (maxGroups) and across panes (maxGroupStates). */
  addPaneGroup(pane: Map<string, AccGroup>, key: string, g: AccGroup, maxGroups: number, maxGroupStates: number): void {
    if (pane.size >= maxGroups || this.paneGroups >= maxGroupStates) this.evictPaneGroup(pane);
    pane.set(key, g);
    this.paneGroups++;
    this.paneKeys.set(key, (this.paneKeys.get(key) ?? 0) + 1);
    this.held.hold(g.last);
  }

  /** A new session or row group, after the oldest goes when there are maxGroups. */
  addGroup<G extends AccGroup | RowGroup>(m: Map<string, G>, key: string, g: G, maxGroups: number): void {
    if (m.size >= maxGroups) this.evictOldest(m);
    m.set(key, g);
    this.held.hold(g.last);
  }

  /** The window starting at s closes: its groups leave the state; returns them. */
  closePane(s: number): Map<string, AccGroup> {
    const pane = this.panes.get(s)!;
    this.panes.delete(s);
    this.paneGroups -= pane.size;
    for (const [k, g] of pane) this.forget(k, g);
    return pane;
  }

  /** A session closes: it leaves the state. */
  closeSession(key: string, g: AccGroup): void {
    this.sessions.delete(key);
    this.forget(key, g);
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
    if (this.timed) {
      const n = (this.paneKeys.get(key) ?? 1) - 1;
      if (n > 0) this.paneKeys.set(key, n);
      else this.paneKeys.delete(key);
    }
  }

  /**
   * maxGroupBytes (limit): while the groups hold more, the oldest created group other than `keep`
   * (the one the event joined) is evicted; for a time window, the key in every open window, which
   * is what frees the message its windows share. Counted, and reported to onEvict.
   */
  enforceBudget(keep: string | undefined, limit: number, onEvict: NonNullable<WindowRuntime['onBudgetEvict']>): void {
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
    onEvict({ evicted: n, bytes: before, maxGroupBytes: limit });
  }

  private evictForBytes(keep: string | undefined): number {
    if (this.timed) {
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
    const m: Map<string, AccGroup | RowGroup> = this.kind === 'session' ? this.sessions : this.rowGroups;
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

  /**
   * A restored state's groups and the events waiting for the watermark (pending), counted; the
   * caller then cuts them to maxGroupBytes (a checkpoint of a larger budget, or of a version without it).
   */
  load(st: Pick<GroupState, 'panes' | 'sessions' | 'rowGroups'>, pending: readonly PendingEvent[]): void {
    this.panes = st.panes;
    this.paneGroups = 0;
    for (const pane of this.panes.values()) this.paneGroups += pane.size;
    this.sessions = st.sessions;
    this.rowGroups = st.rowGroups;
    this.held.clear();
    this.paneKeys.clear();
    for (const e of pending) this.held.hold(e.msg);
    for (const pane of this.panes.values())
      for (const [k, g] of pane) {
        this.recountAccs(g);
        this.paneKeys.set(k, (this.paneKeys.get(k) ?? 0) + 1);
      }
    for (const g of this.sessions.values()) this.recountAccs(g);
    for (const g of this.rowGroups.values()) {
      this.held.hold(g.last);
      g.bytes = 0;
      for (let r = g.head; r < g.vals.length; r++) rowHeld(this.held, g, rowBytes(g.vals[r]!));
    }
  }

  /** Time windows: the panes holding an event later than `now`, each with its latest event's time. */
  panesAfter(now: number): Map<number, number> {
    const found = new Map<number, number>();
    for (const [s, pane] of this.panes) for (const g of pane.values()) if (g.lastTs > now && g.lastTs > (found.get(s) ?? -Infinity)) found.set(s, g.lastTs);
    return found;
  }

  private recountAccs(g: AccGroup): void {
    this.held.hold(g.last);
    g.bytes = accBytes(g.accs);
    this.held.rows(g.bytes);
  }
}
