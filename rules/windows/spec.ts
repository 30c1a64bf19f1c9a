// Window functions of GROUP BY (eKuiper syntax) -> a WindowSpec with sizes in milliseconds.
import { ERRORS, type GatehouseError } from '../../core/errors.js';
import type { Expr, Pos } from '../sql/ast.js';

export type WindowSpec =
  | { kind: 'tumbling'; size: number; hop: number }
  | { kind: 'hopping'; size: number; hop: number }
  | { kind: 'sliding'; size: number }
  | { kind: 'session'; maxDuration: number; timeout: number }
  | { kind: 'count'; n: number; hop: number };

export const WINDOW_FUNCTIONS = new Set(['tumblingwindow', 'hoppingwindow', 'slidingwindow', 'sessionwindow', 'countwindow']);

/** Largest COUNTWINDOW size (rows are kept per group). */
export const MAX_COUNT_WINDOW = 100_000;

const UNITS: Record<string, number> = { ms: 1, ss: 1000, mi: 60_000, hh: 3_600_000, dd: 86_400_000 };

export function semantic(msg: string, pos: Pos, hint?: string): GatehouseError {
  return ERRORS.GH_SQL_SEMANTIC({ reason: msg }, { where: `line ${pos.line}, column ${pos.column}`, hint });
}

export function unitMs(e: Expr | string, pos: Pos): number {
  const name = typeof e === 'string' ? e : e.kind === 'field' ? e.name : '';
  const ms = UNITS[name.toLowerCase()];
  if (ms === undefined) throw semantic(`unknown time unit '${name || '?'}'`, pos, 'use ms, ss, mi, hh or dd, e.g. TUMBLINGWINDOW(ss, 10)');
  return ms;
}

function posInt(e: Expr | undefined, what: string, fn: string, pos: Pos): number {
  if (!e || e.kind !== 'literal' || typeof e.value !== 'number' || !Number.isInteger(e.value) || e.value <= 0) {
    throw semantic(
      `${fn}(): ${what} must be a whole number > 0`,
      e?.pos ?? pos,
      fn.toUpperCase() === 'COUNTWINDOW' ? 'e.g. COUNTWINDOW(10)' : `e.g. ${fn}(ss, 10)`,
    );
  }
  return e.value;
}

/** Parse one window call; throws GH_SQL_SEMANTIC with the position of the bad argument. */
export function parseWindow(e: Extract<Expr, { kind: 'call' }>): WindowSpec {
  const fn = e.name.toUpperCase();
  const a = e.args;
  const arity = (min: number, max: number, usage: string): void => {
    if (a.length < min || a.length > max) throw semantic(`${fn}() takes ${usage}, got ${a.length} argument(s)`, e.pos, `e.g. ${fn}(${usage})`);
  };
  if (e.over) throw semantic(`${fn}() takes no OVER clause: put the group keys in GROUP BY`, e.over.pos);
  switch (fn) {
    case 'TUMBLINGWINDOW': {
      arity(2, 2, 'unit, size');
      const size = unitMs(a[0]!, a[0]!.pos) * posInt(a[1], 'size', fn, e.pos);
      return { kind: 'tumbling', size, hop: size };
    }
    case 'HOPPINGWINDOW': {
      arity(3, 3, 'unit, size, hop');
      const u = unitMs(a[0]!, a[0]!.pos);
      const size = u * posInt(a[1], 'size', fn, e.pos);
      const hop = u * posInt(a[2], 'hop', fn, e.pos);
      if (hop > size)
        throw semantic(
          `${fn}(): hop (${a[2] && (a[2] as { value: number }).value}) must not exceed size`,
          a[2]!.pos,
          'a hop larger than the size would skip events; use e.g. HOPPINGWINDOW(ss, 10, 5)',
        );
      if (size / hop > 1000) throw semantic(`${fn}(): size/hop must be at most 1000 (each event joins size/hop windows)`, a[2]!.pos);
      return { kind: 'hopping', size, hop };
    }
    case 'SLIDINGWINDOW': {
      arity(2, 2, 'unit, size');
      return { kind: 'sliding', size: unitMs(a[0]!, a[0]!.pos) * posInt(a[1], 'size', fn, e.pos) };
    }
    case 'SESSIONWINDOW': {
      // eKuiper order: SESSIONWINDOW(unit, maxDuration, timeout), e.g. SESSIONWINDOW(mi, 2, 1).
      arity(3, 3, 'unit, maxDuration, timeout');
      const u = unitMs(a[0]!, a[0]!.pos);
      const maxDuration = u * posInt(a[1], 'maxDuration', fn, e.pos);
      const timeout = u * posInt(a[2], 'timeout', fn, e.pos);
      if (timeout > maxDuration)
        throw semantic(
          `${fn}(): the timeout (3rd argument) must not exceed the max duration (2nd)`,
          a[2]!.pos,
          'eKuiper order: SESSIONWINDOW(unit, maxDuration, timeout), e.g. SESSIONWINDOW(mi, 2, 1)',
        );
      return { kind: 'session', maxDuration, timeout };
    }
    case 'COUNTWINDOW': {
      arity(1, 2, 'n[, hop]');
      const n = posInt(a[0], 'n', fn, e.pos);
      const hop = a[1] ? posInt(a[1], 'hop', fn, e.pos) : n;
      if (n > MAX_COUNT_WINDOW) throw semantic(`${fn}(): n must be at most ${MAX_COUNT_WINDOW}`, a[0]!.pos);
      if (hop > n) throw semantic(`${fn}(): hop must not exceed n`, a[1]!.pos, 'e.g. COUNTWINDOW(5, 1)');
      return { kind: 'count', n, hop };
    }
  }
  throw semantic(`unknown window ${fn}()`, e.pos);
}
