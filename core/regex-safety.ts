// Regular expressions that run against what devices send: the rule functions regexp_matches,
// regexp_replace and regexp_substr, and a file source's multiLineStartPattern and matchPattern. A
// pattern with nested repetition, e.g. '(a+)+$', backtracks exponentially on a crafted input: 30
// characters stalled the whole event loop (broker, commits, admin API) for minutes.
//
// Two defences, one here for every caller:
// 1. V8's `--enable-experimental-regexp-engine-on-excessive-backtracks`: a match that backtracks
//    more than 50,000 times is finished by V8's linear-time engine. Set once, before the first
//    pattern is compiled (it applies to expressions compiled after it).
// 2. That engine cannot run every pattern: not back-references, lookarounds, counted repetition
//    ({n,m}) nor the i and u flags (measured on Node 20: '(a+)+\1$' on 28 characters still took
//    21 s with the fallback on). Such a pattern is refused when it also repeats a group that
//    repeats or branches inside, the shape that backtracks exponentially (backtrackingRisk).
//    V8 itself says which patterns its linear engine takes: with
//    `--enable-experimental-regexp-engine`, compiling with the 'l' flag throws for the others.
import { setFlagsFromString } from 'node:v8';

let fallbackOn = false;

/** Turn V8's linear-time fallback on (and the 'l' flag that asks whether it can run a pattern). Once per process. */
export function enableBacktrackingFallback(): void {
  if (fallbackOn) return;
  fallbackOn = true;
  setFlagsFromString('--enable-experimental-regexp-engine');
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
}

/** What to do about a risky pattern (the hint of the error that refuses it). */
export const BACKTRACKING_HINT =
  'write + or * instead of {n,m}, drop back-references and lookarounds, or do not repeat a group that itself repeats or has alternatives';

/**
 * Why `pattern` (compiled with `flags`) could stall the event loop on some input, or undefined.
 * Undefined too for a pattern that does not compile: the caller's own compile says why. `shown`:
 * the pattern as the user wrote it, when the caller wraps it (an anchored matchPattern).
 */
export function backtrackingRisk(pattern: string, flags = '', shown = pattern): string | undefined {
  enableBacktrackingFallback();
  try {
    new RegExp(pattern, `${flags}l`);
    return undefined; // the linear engine can finish any match of it
  } catch {
    // not runnable in linear time, or not a pattern at all
  }
  try {
    new RegExp(pattern, flags);
  } catch {
    return undefined;
  }
  const group = nestedRepetition(pattern);
  if (group === undefined) return undefined;
  return `pattern '${shown}' may backtrack exponentially on some inputs and stall the gateway: it repeats ${group}, and uses what V8's linear-time engine cannot run (a back-reference, a lookaround, a counted repetition {n,m}, or the i or u flag)`;
}

interface Frame {
  start: number;
  /** The group holds a repetition (*, +, {n,}, {n,m} with m > 1) or an alternative (|). */
  branches: boolean;
}

/**
 * The first group that is repeated and holds a repetition or an alternative ('(a+)+', '(a|ab)*'),
 * as written; undefined when there is none. A plain scan of the pattern's syntax: escapes and
 * character classes are skipped, group prefixes ((?:, (?=, (?<name>) are not quantifiers.
 */
export function nestedRepetition(pattern: string): string | undefined {
  const stack: Frame[] = [{ start: 0, branches: false }];
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    let atomEnd = i + 1;
    let inner: Frame | undefined;
    if (ch === '\\') atomEnd = i + 2;
    else if (ch === '[') atomEnd = classEnd(pattern, i);
    else if (ch === '(') {
      stack.push({ start: i, branches: false });
      i = groupBodyStart(pattern, i);
      continue;
    } else if (ch === ')') {
      inner = stack.length > 1 ? stack.pop() : undefined;
    } else if (ch === '|') {
      stack.at(-1)!.branches = true;
      i++;
      continue;
    }
    const q = quantifier(pattern, atomEnd);
    if (q.repeats) {
      if (inner?.branches) return pattern.slice(inner.start, q.end);
      stack.at(-1)!.branches = true;
    } else if (inner?.branches) stack.at(-1)!.branches = true;
    i = q.end;
  }
  return undefined;
}

/** Past the ']' that closes the class opened at `at` (a '\]' inside does not close it). */
function classEnd(p: string, at: number): number {
  let i = at + 1;
  while (i < p.length && p[i] !== ']') i += p[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Where the body of the group opened at `at` starts: past '(?:', '(?=', '(?!', '(?<=', '(?<!', '(?<name>'. */
function groupBodyStart(p: string, at: number): number {
  if (p[at + 1] !== '?') return at + 1;
  if (p[at + 2] === '<' && p[at + 3] !== '=' && p[at + 3] !== '!') {
    const close = p.indexOf('>', at + 3);
    return close === -1 ? p.length : close + 1;
  }
  return p[at + 2] === '<' ? at + 4 : at + 3;
}

/** The quantifier at `at`, if any: where it ends and whether it may repeat its atom. */
function quantifier(p: string, at: number): { end: number; repeats: boolean } {
  const c = p[at];
  let end = at;
  let repeats = false;
  if (c === '*' || c === '+') {
    end = at + 1;
    repeats = true;
  } else if (c === '?') end = at + 1;
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(at, at + 24));
    if (m) {
      end = at + m[0].length;
      repeats = m[2] !== undefined && (m[3] === '' || Number(m[3]) > 1);
    }
  }
  if (end > at && p[end] === '?') end++; // lazy
  return { end, repeats };
}
