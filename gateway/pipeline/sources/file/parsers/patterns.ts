// Log formats of Kinesis Agent's LOGTOJSON, with the same field names and the same matching rules
// (its PatternConstants, re-expressed as JS regexes), plus RFC 3164 / RFC 5424 syslog headers.
// A value "-" becomes null in the Apache formats and RFC 5424 (nil value), as in the agent.

const INT = '(?:[+-]?(?:[0-9]+))';
const POSINT = '(?:[1-9][0-9]*)';
const NONNEGINT = '(?:[0-9]+)';
const ANYDATA = '.*';
const WORD = '\\w+';
const NOQUOTE = '[^"]+';
const IP = '(?:[\\d.]+)';
const HOSTNAME = '(?:[\\w\\-]+)(?:\\.(?:[\\w\\-]+))*(?:\\.?|\\b)';
const IPORHOST = `(?:${HOSTNAME}|${IP})`;
const URIHOST = `(?:${IPORHOST}(?::${POSINT})?)`;
const USER = '(?:[a-zA-Z0-9._-]+)';
const MONTHDAY = '(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])';
const DAY = '(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)';
const MONTH =
  '\\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\\b';
const YEAR = '(?:[1-9]\\d*)';
const HOUR = '(?:2[0123]|[01]?[0-9])';
const MINUTE = '(?:[0-5][0-9])';
const SECOND = '(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)';
const TIME = `(?:${HOUR}:${MINUTE}:${SECOND})`;
const HTTPDATE = `(?:${MONTHDAY}/${MONTH}/${YEAR}:${TIME}\\s${INT})`;
const APACHEERRORLOGTIMESTAMP = `(?:${DAY}\\s+${MONTH}\\s+${MONTHDAY}\\s+${TIME}\\s+${YEAR})`;
const SYSLOGTIMESTAMP = `(?:${MONTH}\\s+${MONTHDAY}\\s+${TIME})`;
const RFC3339 = '(?:\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?)(?:Z|(?:[-+]\\d{2}:\\d{2}))';
const SYSLOGFACILITY = `<${NONNEGINT}.${NONNEGINT}>`;
const PROG = '([\\w._/%-]+)';
const SYSLOGPROG = `${PROG}(?:\\[(${POSINT})\\])?`;

const COMMON_APACHE_LOG = `^(${IPORHOST}) (${USER}) (${USER}) \\[(${HTTPDATE})\\] "(${NOQUOTE})" (${INT}|\\-) (${INT}|\\-)`;
const COMBINED_APACHE_LOG = `${COMMON_APACHE_LOG} "(${NOQUOTE})" "(${NOQUOTE})"`;
const APACHE_ERROR_LOG = `^\\[(${APACHEERRORLOGTIMESTAMP})\\] \\[(?:(${WORD}):)?(${WORD})\\] \\[pid (${NONNEGINT})(?::tid (${NONNEGINT}))?\\] \\[client (${URIHOST})\\] (${ANYDATA})`;
const SYSLOG_BASE = `^(${SYSLOGTIMESTAMP}) (?:${SYSLOGFACILITY} )?(${USER}) ${SYSLOGPROG}: (${ANYDATA})`;
const RFC3339_SYSLOG_BASE = `^(${RFC3339}) (?:${SYSLOGFACILITY} )?(${USER}) ${SYSLOGPROG}: (${ANYDATA})`;
// RFC 3164: "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG" (PRI optional, as in files written by syslogd).
const RFC3164_SYSLOG = `^(?:<(${NONNEGINT})>)?(${SYSLOGTIMESTAMP}) (${IPORHOST}) ${SYSLOGPROG}: (${ANYDATA})`;
// RFC 5424: "<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID [SD]|- MSG"
const SD = '(?:-|(?:\\[(?:[^\\]"\\\\]|\\\\.|"(?:[^"\\\\]|\\\\.)*")*\\])+)';
const RFC5424_SYSLOG = `^<(${NONNEGINT})>(${NONNEGINT}) (\\S+) (\\S+) (\\S+) (\\S+) (\\S+) (${SD})(?: (${ANYDATA}))?$`;

export interface LogFormatDef {
  pattern: string;
  fields: readonly string[];
  /** '-' means "absent" (null) in this format. */
  dashIsNull: boolean;
  /** Kinesis Agent appends ".*" to the Apache access patterns (trailing data allowed). */
  trailing: boolean;
}

const COMMON_FIELDS = ['host', 'ident', 'authuser', 'datetime', 'request', 'response', 'bytes'] as const;
const SYSLOG_FIELDS = ['timestamp', 'hostname', 'program', 'processid', 'message'] as const;

export const LOG_FORMATS: Record<string, LogFormatDef> = {
  COMMONAPACHELOG: { pattern: COMMON_APACHE_LOG, fields: COMMON_FIELDS, dashIsNull: true, trailing: true },
  COMBINEDAPACHELOG: { pattern: COMBINED_APACHE_LOG, fields: [...COMMON_FIELDS, 'referer', 'agent'], dashIsNull: true, trailing: true },
  APACHEERRORLOG: {
    pattern: APACHE_ERROR_LOG,
    fields: ['timestamp', 'module', 'severity', 'processid', 'threadid', 'client', 'message'],
    dashIsNull: true,
    trailing: false,
  },
  SYSLOG: { pattern: SYSLOG_BASE, fields: SYSLOG_FIELDS, dashIsNull: false, trailing: false },
  RFC3339SYSLOG: { pattern: RFC3339_SYSLOG_BASE, fields: SYSLOG_FIELDS, dashIsNull: false, trailing: false },
  RFC3164SYSLOG: { pattern: RFC3164_SYSLOG, fields: ['priority', ...SYSLOG_FIELDS], dashIsNull: false, trailing: false },
  RFC5424SYSLOG: {
    pattern: RFC5424_SYSLOG,
    fields: ['priority', 'version', 'timestamp', 'hostname', 'appname', 'procid', 'msgid', 'structureddata', 'message'],
    dashIsNull: true,
    trailing: false,
  },
};
