// Per-group state of a window runner and its checkpoint form. Time windows and sessions keep
// incremental accumulators per group; sliding and count windows keep the rows themselves
// (aggregated at emission). A checkpoint is JSON; the raw values in it (row values, and those
// first/last/collect hold) are saved with checkpoint-values.ts so they keep their SQL type.
import type { Message } from '../../core/message.js';
import { ERRORS } from '../../core/errors.js';
import type { Value } from '../sql/values.js';
import type { Acc } from './aggregates.js';
import { accBytes, type GroupBytes } from './group-bytes.js';
import { loadValue, saveValue } from './checkpoint-values.js';
import type { PendingEvent } from './event-time.js';
import type { WindowSpec } from './spec.js';

/**
 * A buffer this large or smaller is never copied out (a group keeps at most this much alive).
 * Node's pool slabs (Buffer.poolSize) hold the small buffers built in memory: 8 KiB up to Node 22,
 * kept as they are; 64 KiB on Node 24, whose small slices are copied out like a socket chunk's.
 */
const SHARED_SLAB_BYTES = 8 * 1024;

/** A buffer that keeps alive an ArrayBuffer over twice its size and over a pool slab. */
function retainsChunk(b: Buffer): boolean {
  return b.buffer.byteLength > SHARED_SLAB_BYTES && b.buffer.byteLength > 2 * b.length;
}

function ownCopy(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

/**
 * The message a group keeps as its last one (bare fields, the row's message). A payload parsed
 * from a socket is a slice of the chunk read (up to 64 KiB): through one connection (the MQTT
 * source, a bridge, a flood) each chunk holds many devices' messages, and each group keeping its
 * last one kept a whole chunk alive: 10,000 groups of 200-byte messages could hold 640 MiB. Such a
 * payload (and MQTT 5 correlation data) is copied out; a message that owns its bytes is kept as is.
 */
export function keptMessage(msg: Message): Message {
  const corr = msg.properties?.correlationData;
  const copyPayload = retainsChunk(msg.payload);
  const copyCorr = corr !== undefined && retainsChunk(corr);
  if (!copyPayload && !copyCorr) return msg;
  const kept: Message = { ...msg };
  if (copyPayload) kept.payload = ownCopy(msg.payload);
  if (copyCorr) kept.properties = { ...msg.properties, correlationData: ownCopy(corr) };
  return kept;
}

/** A group of a time window or a session: incremental accumulators. */
export interface AccGroup {
  accs: Acc[];
  /** The bytes its accumulators hold (collect, percentile, first/last; maxGroupBytes; not checkpointed). */
  bytes?: number;
  last: Message;
  start: number;
  lastTs: number;
  /** Processing time: wall clock minus elapsed time at lastTs (not checkpointed). */
  skew?: number;
}

/** A group of a sliding or count window: the rows themselves (aggregated at emission). */
export interface RowGroup {
  ts: number[];
  vals: Value[][];
  head: number;
  seen: number;
  /** The bytes of its rows from head on (maxGroupBytes; not checkpointed: counted at restore). */
  bytes: number;
  last: Message;
  /** Processing time: wall clock minus elapsed time when the last row came (not checkpointed). */
  skew?: number;
}

/** A group at its close: its aggregate values and what else its output row reads. */
export interface Closing {
  accs: Value[];
  last: Message;
  start: number;
  end: number;
}

/** A group at its close, at `end`. */
export function closingOf(g: AccGroup, end: number): Closing {
  return { accs: g.accs.map((a) => a.result()), last: g.last, start: g.start, end };
}

/**
 * Feed g's accumulators the event's aggregate arguments; with `accHold` (some aggregate keeps
 * values: collect, percentile, first/last) count what they hold for maxGroupBytes.
 */
export function feedGroup(g: AccGroup, vals: readonly Value[], held: GroupBytes, accHold: boolean): void {
  const accs = g.accs;
  for (let i = 0; i < accs.length; i++) accs[i]!.add(vals[i]);
  if (!accHold) return;
  const b = accBytes(accs);
  held.rows(b - (g.bytes ?? 0));
  g.bytes = b;
}

/** What the windows of panes and sessions need of their runner (built once per runner, not per event). */
export interface GroupHost {
  newAccs(): Acc[];
  /** Some aggregate keeps values (collect, percentile, first/last): count them for maxGroupBytes. */
  accHold: boolean;
  maxGroups(): number;
  maxGroupStates(): number;
  /** Processing time: wall clock minus elapsed time now; undefined in event time or not started. */
  skew(): number | undefined;
  /** Processing time: the wall clock now; undefined in event time or not started. */
  now(): number | undefined;
}

/** The state of a runner a checkpoint holds. */
export interface GroupState {
  /** Event time: the largest timestamp seen (-Infinity: none yet). */
  maxTs: number;
  /** Event time: the time of the last event fed to the windows (-Infinity: none yet). */
  fedTs: number;
  /** Event time with LATENESS: the events waiting for the watermark, in time order. */
  pending: readonly PendingEvent[];
  /** Time windows: start -> group key -> accumulators. */
  panes: Map<number, Map<string, AccGroup>>;
  /** Sessions: group key -> state (Map order = creation order). */
  sessions: Map<string, AccGroup>;
  /** Sliding and count windows: group key -> rows (Map order = creation order). */
  rowGroups: Map<string, RowGroup>;
}

/** What a checkpoint must match (the rule's window kind and aggregate count) and how to rebuild accumulators. */
export interface GroupShape {
  ruleName: string;
  kind: WindowSpec['kind'];
  aggs: number;
  newAccs(): Acc[];
}

interface SavedMessage {
  t: string;
  p: string;
  q: 0 | 1 | 2;
  r: number;
  s: string;
}

function saveMsg(m: Message): SavedMessage {
  return { t: m.topic, p: m.payload.toString('base64'), q: m.qos, r: m.receivedAt, s: m.source.id };
}

function loadMsg(s: SavedMessage): Message {
  return { topic: s.t, payload: Buffer.from(s.p, 'base64'), qos: s.q, receivedAt: s.r, source: { kind: 'internal', id: s.s } };
}

/**
 * Bytes of messages written again, inline, beyond which a checkpoint holds each shared message once
 * (format 4). Below, the format stays the one versions before round 18 read: a gateway rolled back
 * to one restores the windows of a small hopping rule (HOPPINGWINDOW(mi, 4, 2) over a few hundred
 * devices) instead of starting them empty, for at most this much more written per checkpoint.
 */
export const INLINE_SHARED_MAX_BYTES = 64 * 1024;

/**
 * Each message once, when groups share one: an event of a hopping window is the last message of
 * its group in each of its size/hop windows (and an event waiting for the watermark is the same
 * one as in its windows). Written inline per group, HOPPINGWINDOW(ss, 600, 1) wrote each payload
 * 600 times (1,000 devices of 1 KB: an 840 MB checkpoint), and a restore gave each its own copy.
 * Undefined when the messages shared would cost at most INLINE_SHARED_MAX_BYTES written again
 * inline: the format stays the one older versions read.
 */
function messageTable(st: GroupState): Map<Message, number> | undefined {
  const ids = new Map<Message, number>();
  let again = 0;
  const note = (m: Message): void => {
    if (ids.has(m)) again += m.payload.length + m.topic.length;
    else ids.set(m, ids.size);
  };
  for (const e of st.pending) note(e.msg);
  for (const pane of st.panes.values()) for (const g of pane.values()) note(g.last);
  for (const g of st.sessions.values()) note(g.last);
  for (const g of st.rowGroups.values()) note(g.last);
  return again > INLINE_SHARED_MAX_BYTES ? ids : undefined;
}

/** The arrays of a checkpoint, one element a line in the line form (panes: one group a line). */
const SECTIONS = ['msgs', 'pending', 'panes', 'sessions', 'rows'] as const;

/**
 * The line form of a checkpoint: the state without its arrays (their lengths in `lines`), then one
 * line per element. For a state whose JSON text is beyond V8's longest string (~512 MiB: 2,000
 * groups keeping 210 KB messages), which failed every checkpoint ('Invalid string length') until
 * the input log filled and publishes were refused.
 */
function toLines(state: Record<(typeof SECTIONS)[number], unknown[] | undefined> & Record<string, unknown>): Buffer {
  const lines: Buffer[] = [];
  const counts: Record<string, number> = {};
  const add = (el: unknown): void => void lines.push(Buffer.from(`\n${JSON.stringify(el)}`, 'utf8'));
  for (const name of SECTIONS) {
    const before = lines.length;
    for (const el of state[name] ?? []) {
      if (name === 'panes') for (const group of (el as [number, unknown[]])[1]) add([(el as [number, unknown[]])[0], group]);
      else add(el);
    }
    counts[name] = lines.length - before;
  }
  const head = { ...state, lines: counts, msgs: undefined, pending: undefined, panes: undefined, sessions: undefined, rows: undefined };
  return Buffer.concat([Buffer.from(JSON.stringify(head), 'utf8'), ...lines]);
}

/** The checkpoint as one object, from one JSON text or (a newline: JSON.stringify writes none) the line form. */
function parseState(bytes: Buffer): unknown {
  const nl = bytes.indexOf(10);
  if (nl < 0) return JSON.parse(bytes.toString('utf8'));
  const st = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as Record<string, unknown> & { lines?: Record<string, number> };
  let off = nl + 1;
  for (const name of SECTIONS) {
    const items: unknown[] = [];
    for (let i = 0; i < (st.lines?.[name] ?? 0); i++) {
      const end = bytes.indexOf(10, off);
      const stop = end < 0 ? bytes.length : end;
      items.push(JSON.parse(bytes.subarray(off, stop).toString('utf8')));
      off = stop + 1;
    }
    if (name !== 'panes') st[name] = items;
    else {
      const panes = new Map<number, unknown[]>();
      for (const [start, group] of items as Array<[number, unknown]>) {
        const pane = panes.get(start) ?? [];
        pane.push(group);
        panes.set(start, pane);
      }
      st.panes = [...panes];
    }
  }
  return st;
}

/** `lines`: the line form whatever the size (tests); otherwise only when one JSON text cannot hold the state. */
export function saveGroups(shape: GroupShape, st: GroupState, lines = false): Buffer {
  const table = messageTable(st);
  const msg = table ? (m: Message): number => table.get(m)! : saveMsg;
  const accGroup = (g: AccGroup): unknown => [g.start, g.lastTs, g.accs.map((a) => a.save()), msg(g.last)];
  const state = {
    // 2: row values saved with saveValue (1: as JSON.stringify wrote them, whole Decimals as Ints).
    // 3: events wait for the watermark (pending), which a reader of 2 would drop: 2 without them,
    // so a gateway rolled back to a version before 3 still reads the state (fedTs is ignored).
    // 4: messages shared by groups are written once (msgs) and referred to by index.
    v: table ? 4 : st.pending.length > 0 ? 3 : 2,
    kind: shape.kind,
    aggs: shape.aggs,
    maxTs: Number.isFinite(st.maxTs) ? st.maxTs : null,
    fedTs: Number.isFinite(st.fedTs) ? st.fedTs : null,
    msgs: table ? [...table.keys()].map(saveMsg) : undefined,
    pending: st.pending.map((e) => [e.ts, e.key, e.vals.map(saveValue), msg(e.msg)]),
    panes: [...st.panes].map(([s, pane]) => [s, [...pane].map(([k, g]) => [k, accGroup(g)])]),
    sessions: [...st.sessions].map(([k, g]) => [k, accGroup(g)]),
    rows: [...st.rowGroups].map(([k, g]) => [k, g.ts.slice(g.head), g.vals.slice(g.head).map((row) => row.map(saveValue)), g.seen, msg(g.last)]),
  };
  if (!lines) {
    try {
      return Buffer.from(JSON.stringify(state), 'utf8');
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }
  return toLines(state);
}

export function loadGroups(shape: GroupShape, bytes: Buffer): GroupState {
  // A message inline, or (format 4) its index in msgs.
  type M = SavedMessage | number;
  type G = [number, number, unknown[], M];
  let st: {
    v: number;
    kind: string;
    aggs: number;
    maxTs: number | null;
    fedTs?: number | null;
    msgs?: SavedMessage[];
    pending?: Array<[number, string, unknown[], M]>;
    panes: Array<[number, Array<[string, G]>]>;
    sessions: Array<[string, G]>;
    rows: Array<[string, number[], unknown[][], number, M]>;
  };
  try {
    st = parseState(bytes) as typeof st;
  } catch (err) {
    throw ERRORS.GH_STORE_CORRUPT(
      { what: `the window state of rule ${shape.ruleName}`, reason: 'it is not valid JSON' },
      { where: 'window checkpoint', hint: "the state is ignored; the rule's windows start empty", cause: err },
    );
  }
  if (typeof st?.v === 'number' && st.v > 4) {
    // A rollback: a later version wrote it in a format this one does not know.
    throw ERRORS.GH_STORE_CORRUPT(
      { what: `the window state of rule ${shape.ruleName}`, reason: `it is in format ${st.v}, written by a newer gateway version (this one reads 1 to 4)` },
      {
        where: 'window checkpoint',
        hint: "the state is ignored; the rule's windows start empty (docs/upgrading.md)",
      },
    );
  }
  if (![1, 2, 3, 4].includes(st?.v) || st.kind !== shape.kind || st.aggs !== shape.aggs) {
    throw ERRORS.GH_STORE_CORRUPT(
      { what: `the window state of rule ${shape.ruleName}`, reason: 'it does not match its SQL' },
      {
        where: 'window checkpoint',
        hint: 'the state is ignored; windows start empty',
      },
    );
  }
  const msgs = (st.msgs ?? []).map(loadMsg);
  const msg = (m: M): Message => {
    if (typeof m !== 'number') return loadMsg(m);
    const found = msgs[m];
    if (!found)
      throw ERRORS.GH_STORE_CORRUPT(
        { what: `the window state of rule ${shape.ruleName}`, reason: 'it refers to a message it does not hold' },
        { where: 'window checkpoint', hint: 'the state is ignored; windows start empty' },
      );
    return found;
  };
  const accGroup = (g: G): AccGroup => {
    const accs = shape.newAccs();
    accs.forEach((a, i) => a.load(g[2][i]));
    return { start: g[0], lastTs: g[1], accs, last: msg(g[3]) };
  };
  const loadRow = st.v === 1 ? (row: unknown[]): Value[] => row : (row: unknown[]): Value[] => row.map(loadValue);
  return {
    maxTs: st.maxTs ?? -Infinity,
    fedTs: st.fedTs ?? -Infinity,
    pending: (st.pending ?? []).map(([ts, key, vals, m]) => ({ ts, key, vals: vals.map(loadValue), msg: msg(m) })),
    panes: new Map(st.panes.map(([s, groups]) => [s, new Map(groups.map(([k, g]) => [k, accGroup(g)]))])),
    sessions: new Map(st.sessions.map(([k, g]) => [k, accGroup(g)])),
    rowGroups: new Map(st.rows.map(([k, ts, vals, seen, m]) => [k, { ts, vals: vals.map(loadRow), head: 0, seen, bytes: 0, last: msg(m) }])),
  };
}
