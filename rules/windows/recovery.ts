// Pieces of the crash recovery of stateful rules (persistence.ts): the position a checkpoint
// records, the emission marker, and how a replayed input goes through a rule (its state only).
import { randomBytes } from 'node:crypto';
import type { WindowEmission } from '../sql/compile-types.js';
import type { EvalContext } from '../sql/context.js';
import type { CompiledRule } from '../ruleset.js';

/** Where a rule's state stands in its lineage (the `pos` section of a checkpoint). */
export interface Position {
  /** Input number the state covers (inputs above it are replayed). */
  n: number;
  /** Rows the rule emitted since its state started (deterministic under replay). */
  r: number;
  /** Lineage id: a marker only applies to the state it was written for. */
  e: string;
}

export function parsePosition(b: Buffer | undefined): Position | undefined {
  if (!b) return undefined;
  try {
    const p = JSON.parse(b.toString('utf8')) as Partial<Position>;
    return typeof p.n === 'number' && typeof p.r === 'number' && typeof p.e === 'string' ? (p as Position) : undefined;
  } catch {
    return undefined;
  }
}

export function parseMarker(b: Buffer | undefined): { e: string; r: number } | undefined {
  if (!b) return undefined;
  try {
    const m = JSON.parse(b.toString('utf8')) as { e?: unknown; r?: unknown };
    return typeof m.e === 'string' && typeof m.r === 'number' ? { e: m.e, r: m.r } : undefined;
  } catch {
    return undefined;
  }
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** A message through one rule for its state only: WHERE, then the window or the detectors. */
export function stateStep(rule: CompiledRule, c: EvalContext): WindowEmission[] | undefined {
  const q = rule.query;
  if (q.where) {
    if (q.whereUsesPayload && c.isNonJson()) return undefined;
    if (!q.where(c)) return undefined;
  }
  if (q.windowed) return q.windowed.add(c);
  q.select(c); // detectors in SELECT learn the event; its output was committed with its ack
  return undefined;
}
