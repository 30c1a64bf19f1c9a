// Syslog message parsing: RFC 5424 (version 1: structured data with its escapes, a BOM before
// the message, NILVALUE '-') and RFC 3164 (BSD), in the forms rsyslog, busybox syslogd -R,
// util-linux logger and network gear send: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, without the
// host (busybox), with an RFC 3339 timestamp (rsyslog's RSYSLOG_ForwardFormat), with a year or
// milliseconds, without a timestamp (`<PRI>tag: msg`), and Cisco IOS's `<PRI>52: *Mmm dd
// hh:mm:ss.mmm: %FAC-SEV-MNEMONIC: MSG` (parseCisco).
//
// A message that is neither (no valid <PRI>, or a version-1 header that does not parse) is not
// dropped: it is kept whole as `format: 'unknown'` with the default priority of RFC 3164 4.3.3
// (user.notice, 13), and counted by the source. (Fluent Bit's syslog input drops a message its
// parser refuses, with a warning; here nothing read is silently lost.)
//
// Pure functions of the bytes: no I/O, no clock but the `now` given (the year of a BSD timestamp).

export const FACILITY_NAMES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

export const SEVERITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

export type SyslogFormat = 'rfc5424' | 'rfc3164' | 'unknown';

/** Structured data: SD-ID -> parameter -> value (a parameter given twice: its values in order). */
export type StructuredData = Record<string, Record<string, string | string[]>>;

export interface SyslogRecord {
  format: SyslogFormat;
  facility: number;
  facilityName: string;
  severity: number;
  severityName: string;
  /** ISO 8601 in UTC, or null (NILVALUE, none sent). */
  timestamp: string | null;
  hostname: string | null;
  appName: string | null;
  procId: string | null;
  msgId: string | null;
  structuredData: StructuredData;
  message: string;
}

export interface Parsed {
  record: SyslogRecord;
  /** The bytes were not valid UTF-8: the bad sequences are U+FFFD in the record. */
  invalidUtf8: boolean;
}

/** RFC 3164 4.3.3: a message without a valid PRI is taken as user.notice. */
const DEFAULT_PRI = 13;

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(bytes: Uint8Array): { text: string; invalid: boolean } {
  try {
    return { text: utf8Strict.decode(bytes), invalid: false };
  } catch {
    return { text: utf8.decode(bytes), invalid: true };
  }
}

function priority(pri: number): Pick<SyslogRecord, 'facility' | 'facilityName' | 'severity' | 'severityName'> {
  const facility = pri >> 3;
  const severity = pri & 7;
  return { facility, facilityName: FACILITY_NAMES[facility] ?? String(facility), severity, severityName: SEVERITY_NAMES[severity]! };
}

/** `<PRI>` at the start: 1 to 3 digits, no leading zero, at most 191 (RFC 5424 6.2.1). */
function readPri(text: string): { pri: number; rest: string } | undefined {
  const m = /^<(0|[1-9]\d{0,2})>/.exec(text);
  if (!m) return undefined;
  const pri = Number(m[1]);
  return pri > 191 ? undefined : { pri, rest: text.slice(m[0].length) };
}

/** Parse one message (a datagram, or a frame of a stream) read from the network. */
export function parseSyslog(bytes: Uint8Array, now: Date = new Date()): Parsed {
  // Trailing line ends and NULs some senders add to a datagram or a frame are not the message's.
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0x00)) end--;
  const body = bytes.subarray(0, end);
  const { text, invalid } = decode(body);
  const head = readPri(text);
  let record: SyslogRecord | undefined;
  if (head) record = head.rest.startsWith('1 ') ? parse5424(head.pri, head.rest.slice(2)) : parse3164(head.pri, head.rest, now);
  return { record: record ?? unknown(text), invalidUtf8: invalid };
}

function unknown(text: string): SyslogRecord {
  return {
    format: 'unknown',
    ...priority(DEFAULT_PRI),
    timestamp: null,
    hostname: null,
    appName: null,
    procId: null,
    msgId: null,
    structuredData: {},
    message: text,
  };
}

const nil = (v: string): string | null => (v === '-' ? null : v);

/** RFC 5424 after `<PRI>1 `; undefined when the header or the structured data does not parse. */
function parse5424(pri: number, s: string): SyslogRecord | undefined {
  // TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  const fields: string[] = [];
  let i = 0;
  for (let f = 0; f < 5; f++) {
    const sp = s.indexOf(' ', i);
    if (sp <= i) return undefined;
    fields.push(s.slice(i, sp));
    i = sp + 1;
  }
  const [ts, hostname, appName, procId, msgId] = fields as [string, string, string, string, string];
  // field lengths of RFC 5424 6 (printable US-ASCII, no space: the split ensures the latter)
  if (hostname.length > 255 || appName.length > 48 || procId.length > 128 || msgId.length > 32) return undefined;
  let timestamp: string | null = null;
  if (ts !== '-') {
    timestamp = rfc3339(ts);
    if (timestamp === null) return undefined;
  }
  let structuredData: StructuredData = {};
  if (s[i] === '-') i++;
  else if (s[i] === '[') {
    const sd = parseStructuredData(s, i);
    if (!sd) return undefined;
    structuredData = sd.data;
    i = sd.end;
  } else return undefined;
  if (i < s.length && s[i] !== ' ') return undefined;
  let message = s.slice(i + 1);
  if (message.startsWith('\uFEFF')) message = message.slice(1); // the BOM of RFC 5424 6.4 says UTF-8; it is not the message's
  return {
    format: 'rfc5424',
    ...priority(pri),
    timestamp,
    hostname: nil(hostname),
    appName: nil(appName),
    procId: nil(procId),
    msgId: nil(msgId),
    structuredData,
    message,
  };
}

/** `[id p="v" ...][id2 ...]` from s[i] === '['; values unescape \" \\ \] (another backslash is kept, RFC 5424 6.3.3). */
function parseStructuredData(s: string, start: number): { data: StructuredData; end: number } | undefined {
  const data: StructuredData = Object.create(null) as StructuredData;
  let i = start;
  const name = /[^ =\]"]{1,32}/y;
  while (s[i] === '[') {
    name.lastIndex = i + 1;
    const id = name.exec(s);
    if (!id) return undefined;
    i = name.lastIndex;
    const params = data[id[0]] ?? (Object.create(null) as Record<string, string | string[]>);
    data[id[0]] = params;
    while (s[i] === ' ') {
      name.lastIndex = i + 1;
      const p = name.exec(s);
      if (!p || s[name.lastIndex] !== '=' || s[name.lastIndex + 1] !== '"') return undefined;
      i = name.lastIndex + 2;
      let value = '';
      for (;;) {
        if (i >= s.length) return undefined;
        const c = s[i]!;
        if (c === '"') break;
        if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\' || s[i + 1] === ']')) {
          value += s[i + 1];
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++; // the closing quote
      const had = params[p[0]];
      params[p[0]] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    if (s[i] !== ']') return undefined;
    i++;
  }
  // plain objects for JSON (the null-prototype ones guard against __proto__ as an SD-ID)
  return { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, { ...v }])), end: i };
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 timestamp as ISO in UTC (milliseconds), or null. */
function rfc3339(ts: string): string | null {
  const m = RFC3339.exec(ts);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m as unknown as [string, string, string, string, string, string, string, string | undefined, string];
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return null;
  const ms = frac ? frac.slice(1, 4).padEnd(3, '0') : '000';
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec === '60' ? '59' : sec}.${ms}${zone.toUpperCase()}`);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// `Mmm dd hh:mm:ss`, dd space-padded or not, an optional year before the time (Cisco), optional fraction.
const BSD_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?: |$)/;
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ?/i;
/** A TAG: up to 48 characters of a program name, an optional [PID], then ':' (or the [PID] alone). */
const TAG = /^([^\s:[\]]{1,48})(?:\[([^\]\s]{1,128})\])?:(?: |$)|^([^\s:[\]]{1,48})\[([^\]\s]{1,128})\](?: |$)/;
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

/**
 * Cisco IOS's own form: `<189>52: *Mar  1 00:47:11.443 UTC: %SYS-5-CONFIG_I: Configured from ...`,
 * a message counter first, then the number of `service sequence-numbers`, the host of `logging
 * origin-id`, a time ending in `:` (`*`: the clock not set, `.`: no longer synced; a zone with
 * `show-timezone`), then the `%FACILITY-SEVERITY-MNEMONIC:` tag. Read as a TAG, the counter would
 * be the app and every message a topic of its own.
 */
const CISCO_HEAD = /^(\d{1,10}): (?:\d{1,10}: )?(?:([A-Za-z0-9][A-Za-z0-9._-]{0,254}): )?(?=[*.]?[A-Z][a-z]{2} {1,2}\d|%)/;
const CISCO_TIME = /^[*.]?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?: ([A-Z]{2,5}))?: /;

function parseCisco(pri: number, s: string, now: Date): SyslogRecord | undefined {
  const head = CISCO_HEAD.exec(s);
  if (!head) return undefined;
  let rest = s.slice(head[0].length);
  let timestamp: string | null = null;
  const time = CISCO_TIME.exec(rest);
  if (time) {
    if (!MONTHS.includes(time[1]!)) return undefined;
    timestamp = bsdTime(time, now, time[8] === 'UTC' || time[8] === 'GMT');
    rest = rest.slice(time[0].length);
  }
  const tag = /^(%[^\s:]{1,64}): ?/.exec(rest);
  if (!tag) return undefined;
  return {
    format: 'rfc3164',
    ...priority(pri),
    timestamp,
    hostname: head[2] ?? null,
    appName: tag[1]!,
    procId: null,
    msgId: head[1]!,
    structuredData: {},
    message: rest.slice(tag[0].length),
  };
}

/** RFC 3164 after `<PRI>`: lenient, as receivers are (RFC 3164 4.3); never fails once PRI was valid. */
function parse3164(pri: number, s: string, now: Date): SyslogRecord {
  const cisco = parseCisco(pri, s, now);
  if (cisco) return cisco;
  let rest = s;
  let timestamp: string | null = null;
  let sawTime = false;
  const bsd = BSD_TIME.exec(rest);
  if (bsd && MONTHS.includes(bsd[1]!)) {
    timestamp = bsdTime(bsd, now);
    sawTime = true;
    rest = rest.slice(bsd[0].length);
  } else {
    const iso = ISO_TIME.exec(rest);
    if (iso) {
      timestamp = rfc3339(iso[1]!);
      sawTime = timestamp !== null;
      if (sawTime) rest = rest.slice(iso[0].length);
    }
  }
  let hostname: string | null = null;
  // After a timestamp, the first word is the host unless it is already the TAG (busybox sends no host).
  if (sawTime && !TAG.test(rest)) {
    const sp = rest.indexOf(' ');
    const word = sp === -1 ? rest : rest.slice(0, sp);
    if (word.length > 0 && HOSTNAME.test(word) && sp !== -1) {
      hostname = word;
      rest = rest.slice(sp + 1);
    }
  }
  let appName: string | null = null;
  let procId: string | null = null;
  const tag = TAG.exec(rest);
  if (tag) {
    appName = tag[1] ?? tag[3] ?? null;
    procId = tag[2] ?? tag[4] ?? null;
    rest = rest.slice(tag[0].length);
  }
  return {
    format: 'rfc3164',
    ...priority(pri),
    timestamp,
    hostname,
    appName,
    procId,
    msgId: null,
    structuredData: {},
    message: rest,
  };
}

/**
 * A BSD timestamp has no year nor zone: the sender's local time, taken as the gateway's (rsyslog
 * does the same); the year is the current one, or the last one when that would put it more than
 * a month ahead (a December message read in January).
 */
function bsdTime(m: RegExpExecArray, now: Date, utc = false): string | null {
  const month = MONTHS.indexOf(m[1]!);
  const day = Number(m[2]);
  const [h, mi, sec] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60) return null;
  const ms = m[7] ? Number(m[7].slice(1, 4).padEnd(3, '0')) : 0;
  // a time the sender said is UTC (Cisco's show-timezone), else the gateway's zone
  const at = (y: number) => (utc ? new Date(Date.UTC(y, month, day, h, mi, Math.min(sec, 59), ms)) : new Date(y, month, day, h, mi, Math.min(sec, 59), ms));
  let year = m[3] ? Number(m[3]) : now.getFullYear();
  let d = at(year);
  if (!m[3] && d.getTime() - now.getTime() > 31 * 86_400_000) {
    year -= 1;
    d = at(year);
  }
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
