// String functions. Non-string arguments go through the standard To String conversion; Null and
// Undefined have no string form, so they give Undefined.
import { BACKTRACKING_HINT, backtrackingRisk } from '../../../core/regex-safety.js';
import { define, type FunctionRegistry, type SqlFunctionDef } from './types.js';
import { toIntFloor, toStr, type Value } from '../values.js';

function str1(name: string, f: (s: string) => Value, since?: '2016-03-23'): SqlFunctionDef {
  const d: SqlFunctionDef = {
    name,
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    impl: (_c, a) => {
      const s = toStr(a[0]);
      return s === undefined ? undefined : f(s);
    },
  };
  if (since) d.since = since;
  return d;
}

function str2(name: string, f: (s: string, t: string) => Value, since?: '2016-03-23'): SqlFunctionDef {
  const d: SqlFunctionDef = {
    name,
    minArgs: 2,
    maxArgs: 2,
    pure: true,
    impl: (_c, a) => {
      const s = toStr(a[0]);
      const t = toStr(a[1]);
      return s === undefined || t === undefined ? undefined : f(s, t);
    },
  };
  if (since) d.since = since;
  return d;
}

function pad(name: string, left: boolean): SqlFunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    pure: true,
    impl: (_c, a) => {
      const s = toStr(a[0]);
      let n = toIntFloor(a[1]);
      if (s === undefined || n === undefined) return undefined;
      n = Math.min(1000, Math.max(0, n));
      const spaces = ' '.repeat(n);
      return left ? spaces + s : s + spaces;
    },
  };
}

/**
 * Regular expressions: AWS uses Java regexes; JavaScript's are close for common patterns. Each call
 * site keeps the last compiled pattern (rules nearly always pass a literal), so no per-message
 * compilation. An invalid pattern gives Undefined.
 */
class RegexCache {
  private src: string | undefined;
  private re: RegExp | null = null;
  constructor(private readonly flags: string) {}
  get(pattern: string): RegExp | null {
    if (pattern !== this.src) {
      this.src = pattern;
      try {
        // (a pattern that could backtrack exponentially, core/regex-safety.ts, counts as invalid:
        // a literal one is refused when the rule compiles, this is for one read from a payload)
        this.re = backtrackingRisk(pattern, this.flags) === undefined ? new RegExp(pattern, this.flags) : null;
      } catch {
        this.re = null;
      }
    }
    if (this.re) this.re.lastIndex = 0;
    return this.re;
  }
}

function regexFn(name: string, arity: number, flags: string, f: (re: RegExp, s: string, rest: string[]) => Value): SqlFunctionDef {
  return {
    name,
    kind: 'stateful',
    minArgs: arity,
    maxArgs: arity,
    // A literal pattern that could backtrack exponentially on a crafted payload is refused here.
    check: (args) => {
      const p = args[1];
      if (p?.kind !== 'literal' || typeof p.value !== 'string') return undefined;
      const risk = backtrackingRisk(p.value, flags);
      return risk && `${name}(): ${risk}; ${BACKTRACKING_HINT}`;
    },
    factory: () => {
      const cache = new RegexCache(flags);
      return (_c, a) => {
        const s = toStr(a[0]);
        const p = toStr(a[1]);
        if (s === undefined || p === undefined) return undefined;
        const re = cache.get(p);
        if (!re) return undefined;
        const rest: string[] = [];
        for (let i = 2; i < arity; i++) {
          const r = toStr(a[i]);
          if (r === undefined) return undefined;
          rest.push(r);
        }
        return f(re, s, rest);
      };
    },
  };
}

/**
 * `s.replaceAll(re, rep)` with Java's replacement syntax (AWS evaluates rules on the JVM), not
 * JavaScript's: `$0` is the whole match, `$n` the longest group number that exists, `${name}` a named
 * group, a backslash makes the next character literal (`\\$`). What Java refuses (a lone `$`, a group
 * that does not exist, a trailing backslash) gives Undefined. A group that did not take part adds ''.
 */
export function javaReplaceAll(re: RegExp, s: string, rep: string): string | undefined {
  let bad = false;
  const out = s.replace(re, (...args: unknown[]) => {
    const named = typeof args.at(-1) === 'object' ? (args.at(-1) as Record<string, string | undefined> | undefined) : undefined;
    const groups = args.length - (named === undefined ? 3 : 4); // match, groups..., offset, string[, named]
    const group = (n: number): string => (args[n] as string | undefined) ?? '';
    let r = '';
    for (let i = 0; i < rep.length; i++) {
      const ch = rep[i]!;
      if (ch === '\\') {
        if (++i >= rep.length) bad = true;
        else r += rep[i];
      } else if (ch !== '$') {
        r += ch;
      } else if (rep[i + 1] === '{') {
        const end = rep.indexOf('}', i + 2);
        const name = end < 0 ? '' : rep.slice(i + 2, end);
        if (named === undefined || !Object.hasOwn(named, name)) bad = true;
        else r += named[name] ?? '';
        i = end < 0 ? rep.length : end;
      } else {
        let n = rep.charCodeAt(i + 1) - 48;
        if (!(n >= 0 && n <= 9) || n > groups) {
          bad = true;
          break;
        }
        i++;
        for (let d = rep.charCodeAt(i + 1) - 48; d >= 0 && d <= 9 && n * 10 + d <= groups; d = rep.charCodeAt(i + 1) - 48) {
          n = n * 10 + d;
          i++;
        }
        r += group(n);
      }
    }
    return r;
  });
  return bad ? undefined : out;
}

export function registerString(reg: FunctionRegistry): void {
  define(reg, [
    {
      name: 'chr',
      minArgs: 1,
      maxArgs: 1,
      pure: true,
      impl: (_c, a) => {
        if (typeof a[0] === 'boolean') return undefined;
        const n = toIntFloor(a[0]);
        return n === undefined || n < 0 || n > 127 ? undefined : String.fromCharCode(n);
      },
    },
    {
      name: 'concat',
      minArgs: 0,
      maxArgs: Infinity,
      pure: true,
      impl: (_c, a) => {
        if (a.length === 0) return undefined;
        if (a.length === 1) return a[0];
        if (a.some((v) => Array.isArray(v))) {
          const out: Value[] = [];
          for (const v of a) {
            if (Array.isArray(v)) out.push(...v);
            else out.push(v);
          }
          return out;
        }
        let s = '';
        for (const v of a) {
          const t = toStr(v);
          if (t === undefined) return undefined;
          s += t;
        }
        return s;
      },
    },
    str2('endswith', (s, t) => s.endsWith(t)),
    str2('startswith', (s, t) => s.startsWith(t)),
    str2('indexof', (s, t) => s.indexOf(t), '2016-03-23'),
    str1('length', (s) => s.length, '2016-03-23'),
    str1('lower', (s) => s.toLowerCase()),
    str1('upper', (s) => s.toUpperCase()),
    pad('lpad', true),
    pad('rpad', false),
    str1('ltrim', (s) => s.replace(/^[ \t]+/, '')),
    str1('rtrim', (s) => s.replace(/[ \t]+$/, '')),
    str1('trim', (s) => s.trim()),
    str1('numbytes', (s) => Buffer.byteLength(s, 'utf8'), '2016-03-23'),
    regexFn('regexp_matches', 2, '', (re, s) => re.test(s)),
    regexFn('regexp_replace', 3, 'g', (re, s, [rep]) => javaReplaceAll(re, s, rep!)),
    regexFn('regexp_substr', 2, '', (re, s) => {
      const m = re.exec(s);
      return m ? m[0] : undefined;
    }),
    {
      name: 'replace',
      minArgs: 3,
      maxArgs: 3,
      pure: true,
      impl: (_c, a) => {
        const s = toStr(a[0]);
        const f = toStr(a[1]);
        const r = toStr(a[2]);
        if (s === undefined || f === undefined || r === undefined) return undefined;
        return f === '' ? s : s.split(f).join(r);
      },
    },
    {
      name: 'substring',
      minArgs: 2,
      maxArgs: 3,
      pure: true,
      impl: (_c, a) => {
        const s = toStr(a[0]);
        const b = toIntFloor(a[1]);
        if (s === undefined || b === undefined) return undefined;
        const clamp = (n: number): number => Math.min(s.length, Math.max(0, n));
        if (a.length < 3) return s.slice(clamp(b));
        const e = toIntFloor(a[2]);
        if (e === undefined) return undefined;
        const from = clamp(b);
        const to = clamp(e);
        return from >= to ? '' : s.slice(from, to);
      },
    },
  ]);
}
