// The regular expressions of a file source's options, built in one place: by the options schema
// (a pattern that does not compile is a config error with its key path, found by check-config)
// and by the source when it starts (which then cannot fail on them).
import { BACKTRACKING_HINT, backtrackingRisk } from '../../../../../core/regex-safety.js';

/** multiLineStartPattern: as written (unanchored, like the agent's Pattern.find()). */
export function multiLineStartRegExp(source: string): RegExp {
  return new RegExp(source);
}

/**
 * LOGTOJSON matchPattern: Java's Matcher.matches() needs the whole record to match, so the
 * pattern is anchored at both ends ('s': a multi-line record matches too). A leading ^ or a
 * trailing unescaped $ the user wrote is dropped first (`\$` is a literal dollar and stays).
 */
export function logMatchRegExp(source: string): RegExp {
  let s = source.startsWith('^') ? source.slice(1) : source;
  if (s.endsWith('$') && /(^|[^\\])(\\\\)*\$$/.test(s)) s = s.slice(0, -1);
  return new RegExp(`^(?:${s})$`, 's');
}

/**
 * Why `build(source)` throws (the engine's SyntaxError message), or why it could stall the gateway
 * on some input (core/regex-safety.ts); undefined when neither. The pattern is first compiled as
 * written, so the message shows what the user wrote.
 */
export function regexProblem(source: string, build: (source: string) => RegExp): string | undefined {
  let built: RegExp | undefined;
  for (const compile of [(s: string) => new RegExp(s), build]) {
    try {
      built = compile(source);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
  const risk = built && backtrackingRisk(built.source, built.flags, source);
  return risk && `${risk}: ${BACKTRACKING_HINT}`;
}
