// parse_time / time_to_epoch with the common subset of Joda-Time / java.time patterns:
// G y M d H h k m s S a E z Z X V and 'quoted literals'. Time zones come from Intl (IANA names).
import { define, type FunctionRegistry } from './types.js';
import { toNumber, toStr } from '../values.js';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

interface Parts {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
  weekday: number; // 0 = Sunday
  offsetMin: number;
  zoneShort: string;
  zoneLong: string;
  zoneId: string;
}

/** Bounded cache of Intl formatters per zone (creating one costs ~50 us). */
const fmtCache = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat | undefined {
  let f = fmtCache.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        timeZoneName: 'short',
      });
    } catch {
      return undefined;
    }
    if (fmtCache.size >= 64) fmtCache.clear();
    fmtCache.set(zone, f);
  }
  return f;
}

/** The offset of `zone` from UTC at `ts`, in minutes east; undefined for a zone Intl does not know. */
export function zoneOffsetMin(ts: number, zone: string): number | undefined {
  const f = formatter(zone);
  if (!f) return undefined;
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(new Date(ts))) p[part.type] = part.value;
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return Math.round((local - (ts - (((ts % 1000) + 1000) % 1000))) / 60000);
}

function partsAt(ts: number, zone: string): Parts | undefined {
  const off = zoneOffsetMin(ts, zone);
  if (off === undefined) return undefined;
  const d = new Date(ts + off * 60000);
  const f = formatter(zone)!;
  const short = f.formatToParts(new Date(ts)).find((x) => x.type === 'timeZoneName')?.value ?? zone;
  let long = zone;
  try {
    long =
      new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'long' }).formatToParts(new Date(ts)).find((x) => x.type === 'timeZoneName')?.value ??
      zone;
  } catch {
    /* keep id */
  }
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    ms: d.getUTCMilliseconds(),
    weekday: d.getUTCDay(),
    offsetMin: off,
    zoneShort: short === 'GMT' && (zone === 'UTC' || zone === 'Etc/UTC') ? 'UTC' : short,
    zoneLong: long,
    zoneId: zone,
  };
}

/** Split a pattern into letter runs and literals. */
function tokenize(pattern: string): Array<{ letter: string; count: number } | { lit: string }> | undefined {
  const out: Array<{ letter: string; count: number } | { lit: string }> = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "'") {
      let j = i + 1;
      let lit = '';
      for (;;) {
        if (j >= pattern.length) return undefined;
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            lit += "'";
            j += 2;
            continue;
          }
          break;
        }
        lit += pattern[j];
        j++;
      }
      out.push({ lit: j === i + 1 ? "'" : lit });
      i = j + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      out.push({ letter: c, count: j - i });
      i = j;
    } else {
      out.push({ lit: c });
      i++;
    }
  }
  return out;
}

const pad = (n: number, w: number): string => String(Math.abs(n)).padStart(w, '0');
function offsetStr(min: number, colon: boolean): string {
  const s = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `${s}${pad(Math.floor(a / 60), 2)}${colon ? ':' : ''}${pad(a % 60, 2)}`;
}

export function formatTime(pattern: string, ts: number, zone: string): string | undefined {
  const toks = tokenize(pattern);
  const p = partsAt(ts, zone);
  if (!toks || !p) return undefined;
  let out = '';
  for (const t of toks) {
    if ('lit' in t) {
      out += t.lit;
      continue;
    }
    const n = t.count;
    switch (t.letter) {
      case 'G':
        out += p.year > 0 ? 'AD' : 'BC';
        break;
      case 'y':
      case 'Y':
      case 'u':
        out += n === 2 ? pad(p.year % 100, 2) : pad(p.year, n);
        break;
      case 'M':
        out += n >= 4 ? MONTHS[p.month - 1] : n === 3 ? MONTHS[p.month - 1]!.slice(0, 3) : pad(p.month, n);
        break;
      case 'd':
        out += pad(p.day, n);
        break;
      case 'E':
        out += n >= 4 ? DAYS[p.weekday] : DAYS[p.weekday]!.slice(0, 3);
        break;
      case 'a':
        out += p.hour < 12 ? 'AM' : 'PM';
        break;
      case 'H':
        out += pad(p.hour, n);
        break;
      case 'k':
        out += pad(p.hour === 0 ? 24 : p.hour, n);
        break;
      case 'h':
        out += pad(p.hour % 12 === 0 ? 12 : p.hour % 12, n);
        break;
      case 'm':
        out += pad(p.minute, n);
        break;
      case 's':
        out += pad(p.second, n);
        break;
      case 'S':
        out += pad(p.ms, 3).padEnd(n, '0').slice(0, n);
        break;
      case 'z':
        out += n >= 4 ? p.zoneLong : p.zoneShort;
        break;
      case 'Z':
        out += n === 1 ? offsetStr(p.offsetMin, false) : n === 2 ? offsetStr(p.offsetMin, true) : p.zoneId;
        break;
      case 'X':
      case 'x':
        out += p.offsetMin === 0 && t.letter === 'X' ? 'Z' : offsetStr(p.offsetMin, n >= 3);
        break;
      case 'V':
        out += p.zoneId;
        break;
      default:
        return undefined;
    }
  }
  return out;
}

/** Parse `text` with `pattern`; missing zone = UTC. Returns epoch ms or undefined. */
export function parseTime(text: string, pattern: string): number | undefined {
  const toks = tokenize(pattern);
  if (!toks) return undefined;
  let i = 0;
  let year = 1970,
    month = 1,
    day = 1,
    hour = 0,
    minute = 0,
    second = 0,
    ms = 0;
  let pm: boolean | undefined;
  let offsetMin: number | undefined;
  let zone: string | undefined;
  const num = (maxLen: number): number | undefined => {
    const m = new RegExp(`^[+-]?\\d{1,${maxLen}}`).exec(text.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    return Number(m[0]);
  };
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k]!;
    if ('lit' in t) {
      if (text.startsWith(t.lit, i)) i += t.lit.length;
      else if (t.lit.trim() === '' && /\s/.test(text[i] ?? '')) i++;
      else return undefined;
      continue;
    }
    // Adjacent numeric fields (yyyyMMdd) take exactly their width.
    const next = toks[k + 1];
    const fixed = next !== undefined && 'letter' in next;
    const width = (def: number): number => (fixed ? t.count : def);
    let v: number | undefined;
    switch (t.letter) {
      case 'y':
      case 'Y':
      case 'u':
        v = num(width(t.count === 2 ? 2 : 9));
        if (v === undefined) return undefined;
        year = t.count === 2 ? 2000 + v : v;
        break;
      case 'M':
        if (t.count >= 3) {
          const idx = MONTHS.findIndex((m) => (t.count >= 4 ? text.startsWith(m, i) : text.slice(i, i + 3).toLowerCase() === m.slice(0, 3).toLowerCase()));
          if (idx < 0) return undefined;
          i += t.count >= 4 ? MONTHS[idx]!.length : 3;
          month = idx + 1;
        } else {
          v = num(width(2));
          if (v === undefined) return undefined;
          month = v;
        }
        break;
      case 'd':
        v = num(width(2));
        if (v === undefined) return undefined;
        day = v;
        break;
      case 'H':
      case 'k':
        v = num(width(2));
        if (v === undefined) return undefined;
        hour = v % 24;
        break;
      case 'h':
        v = num(width(2));
        if (v === undefined) return undefined;
        hour = v % 12;
        break;
      case 'm':
        v = num(width(2));
        if (v === undefined) return undefined;
        minute = v;
        break;
      case 's':
        v = num(width(2));
        if (v === undefined) return undefined;
        second = v;
        break;
      case 'S': {
        const m = /^\d+/.exec(text.slice(i, i + (fixed ? t.count : 9)));
        if (!m) return undefined;
        i += m[0].length;
        ms = Math.round(Number(`0.${m[0]}`) * 1000);
        break;
      }
      case 'a': {
        const s = text.slice(i, i + 2).toUpperCase();
        if (s !== 'AM' && s !== 'PM') return undefined;
        pm = s === 'PM';
        i += 2;
        break;
      }
      case 'E': {
        const idx = DAYS.findIndex((d) => text.startsWith(t.count >= 4 ? d : d.slice(0, 3), i));
        if (idx < 0) return undefined;
        i += t.count >= 4 ? DAYS[idx]!.length : 3;
        break;
      }
      case 'G':
        if (text.startsWith('AD', i) || text.startsWith('BC', i)) i += 2;
        else return undefined;
        break;
      case 'z':
      case 'Z':
      case 'X':
      case 'x':
      case 'V':
      case 'O': {
        const rest = text.slice(i);
        const m = /^(?:(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?|Z\b|Z$|(UTC|GMT|UT)\b|([A-Za-z_]+(?:\/[A-Za-z_+-]+)+)|([A-Z]{3,5}))/.exec(rest);
        if (!m) return undefined;
        i += m[0].length;
        if (m[1]) offsetMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
        else if (m[0] === 'Z' || m[4]) offsetMin = 0;
        else if (m[5]) zone = m[5];
        else if (m[6]) zone = ABBREV[m[6]] ?? m[6];
        break;
      }
      default:
        return undefined;
    }
  }
  if (i !== text.length) return undefined;
  if (pm !== undefined && pm) hour += 12;
  const local = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (!Number.isFinite(local)) return undefined;
  if (offsetMin !== undefined) return local - offsetMin * 60000;
  if (zone) {
    let off = zoneOffsetMin(local, zone);
    if (off === undefined) return undefined;
    off = zoneOffsetMin(local - off * 60000, zone) ?? off;
    return local - off * 60000;
  }
  return local;
}

/** A few North-American abbreviations Java accepts; others must be IANA ids or offsets. */
const ABBREV: Record<string, string> = {
  UTC: 'UTC',
  GMT: 'UTC',
  EST: 'America/New_York',
  EDT: 'America/New_York',
  CST: 'America/Chicago',
  CDT: 'America/Chicago',
  MST: 'America/Denver',
  MDT: 'America/Denver',
  PST: 'America/Los_Angeles',
  PDT: 'America/Los_Angeles',
  CET: 'Europe/Paris',
  CEST: 'Europe/Paris',
};

export function registerTime(reg: FunctionRegistry): void {
  define(reg, [
    {
      name: 'parse_time',
      minArgs: 2,
      maxArgs: 3,
      since: '2016-03-23',
      pure: true,
      impl: (_c, a) => {
        const pattern = toStr(a[0]);
        const ts = toNumber(a[1]);
        const zone = a.length > 2 ? toStr(a[2]) : 'UTC';
        if (pattern === undefined || ts === undefined || zone === undefined) return undefined;
        return formatTime(pattern, Math.trunc(ts), zone);
      },
    },
    {
      name: 'time_to_epoch',
      minArgs: 2,
      maxArgs: 2,
      since: '2016-03-23',
      pure: true,
      impl: (_c, a) => {
        const text = toStr(a[0]);
        const pattern = toStr(a[1]);
        if (text === undefined || pattern === undefined) return undefined;
        return parseTime(text, pattern);
      },
    },
  ]);
}
