// Kinesis Agent dataProcessingOptions: the documented examples (AWS Firehose developer guide,
// "Pre-process data with agents") and the agent's own semantics (anchored match, "-" as null).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildChain } from '../../gateway/pipeline/sources/file/parsers/converters.js';
import { dataProcessingOptionSchema, type DataProcessingOption } from '../../gateway/pipeline/sources/file/options.js';

function run(opts: unknown[], line: string, onParseError: 'raw' | 'drop' = 'raw'): { json: unknown; error: string | undefined; text: string | undefined } {
  const parsed = opts.map((o) => dataProcessingOptionSchema.parse(o)) as DataProcessingOption[];
  const r = buildChain(parsed, onParseError)(line, 1_700_000_000_000);
  let json: unknown;
  try {
    json = r.text === undefined ? undefined : JSON.parse(r.text);
  } catch {
    json = undefined;
  }
  return { json, error: r.error, text: r.text };
}

const APACHE = '64.242.88.10 - - [07/Mar/2004:16:10:02 -0800] "GET /mailman/listinfo/hsdivision HTTP/1.1" 200 6291';

test('LOGTOJSON COMMONAPACHELOG: documented example, "-" becomes null', () => {
  assert.deepEqual(run([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }], APACHE).json, {
    host: '64.242.88.10',
    ident: null,
    authuser: null,
    datetime: '07/Mar/2004:16:10:02 -0800',
    request: 'GET /mailman/listinfo/hsdivision HTTP/1.1',
    response: '200',
    bytes: '6291',
  });
});

test('LOGTOJSON COMMONAPACHELOG with customFieldNames', () => {
  const r = run([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG', customFieldNames: ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'] }], APACHE);
  assert.deepEqual(Object.keys(r.json as object), ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7']);
  assert.equal((r.json as Record<string, string>).f7, '6291');
});

test('LOGTOJSON COMMONAPACHELOG with matchPattern (only the first six fields)', () => {
  const r = run(
    [
      {
        optionName: 'LOGTOJSON',
        logFormat: 'COMMONAPACHELOG',
        matchPattern: '^([\\d.]+) (\\S+) (\\S+) \\[([\\w:/]+\\s[+\\-]\\d{4})\\] "(.+?)" (\\d{3})',
        customFieldNames: ['host', 'ident', 'authuser', 'datetime', 'request', 'response'],
      },
    ],
    '64.242.88.10 - - [07/Mar/2004:16:10:02 -0800] "GET /mailman/listinfo/hsdivision HTTP/1.1" 200',
  );
  assert.deepEqual(r.json, {
    host: '64.242.88.10',
    ident: null,
    authuser: null,
    datetime: '07/Mar/2004:16:10:02 -0800',
    request: 'GET /mailman/listinfo/hsdivision HTTP/1.1',
    response: '200',
  });
});

test('LOGTOJSON COMBINEDAPACHELOG and APACHEERRORLOG', () => {
  const combined = run(
    [{ optionName: 'LOGTOJSON', logFormat: 'COMBINEDAPACHELOG' }],
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
  );
  assert.deepEqual(combined.json, {
    host: '127.0.0.1',
    ident: null,
    authuser: 'frank',
    datetime: '10/Oct/2000:13:55:36 -0700',
    request: 'GET /apache_pb.gif HTTP/1.0',
    response: '200',
    bytes: '2326',
    referer: 'http://www.example.com/start.html',
    agent: 'Mozilla/4.08 [en] (Win98; I ;Nav)',
  });
  const err = run(
    [{ optionName: 'LOGTOJSON', logFormat: 'APACHEERRORLOG' }],
    '[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico',
  );
  assert.deepEqual(err.json, {
    timestamp: 'Fri Sep 09 10:42:29.902022 2011',
    module: 'core',
    severity: 'error',
    processid: '35708',
    threadid: '4328636416',
    client: '72.15.99.187',
    message: 'File does not exist: /usr/local/apache2/htdocs/favicon.ico',
  });
});

test('LOGTOJSON SYSLOG, RFC3164SYSLOG, RFC5424SYSLOG', () => {
  assert.deepEqual(
    run([{ optionName: 'LOGTOJSON', logFormat: 'SYSLOG' }], "Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages in 'ximian-red-carpet|351' (0.01878 seconds)")
      .json,
    {
      timestamp: 'Mar 12 12:00:08',
      hostname: 'server2',
      program: 'rcd',
      processid: '308',
      message: "Loaded 12 packages in 'ximian-red-carpet|351' (0.01878 seconds)",
    },
  );
  assert.deepEqual(
    run([{ optionName: 'LOGTOJSON', logFormat: 'RFC3164SYSLOG' }], "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8").json,
    {
      priority: '34',
      timestamp: 'Oct 11 22:14:15',
      hostname: 'mymachine',
      program: 'su',
      processid: null,
      message: "'su root' failed for lonvick on /dev/pts/8",
    },
  );
  assert.deepEqual(
    run(
      [{ optionName: 'LOGTOJSON', logFormat: 'RFC5424SYSLOG' }],
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...',
    ).json,
    {
      priority: '165',
      version: '1',
      timestamp: '2003-10-11T22:14:15.003Z',
      hostname: 'mymachine.example.com',
      appname: 'evntslog',
      procid: null,
      msgid: 'ID47',
      structureddata: '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]',
      message: 'An application event log entry...',
    },
  );
});

test('LOGTOJSON: a line that does not match is counted; raw keeps it, drop skips it (the agent drops)', () => {
  const raw = run([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }], 'garbage line');
  assert.equal(raw.text, 'garbage line');
  assert.match(raw.error!, /COMMONAPACHELOG/);
  const dropped = run([{ optionName: 'LOGTOJSON', logFormat: 'COMMONAPACHELOG' }], 'garbage line', 'drop');
  assert.equal(dropped.text, undefined);
});

test('CSVTOJSON: documented example, custom delimiter, wrong field counts', () => {
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: ['f1', 'f2'] }], 'v1, v2').json, { f1: 'v1', f2: ' v2' });
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: ['a', 'b'], delimiter: '\\t' }], 'x\ty').json, { a: 'x', b: 'y' });
  const short = run([{ optionName: 'CSVTOJSON', customFieldNames: ['a', 'b', 'c'] }], '1,2');
  assert.deepEqual(short.json, { a: '1', b: '2', c: null });
  assert.match(short.error!, /expected 3 fields, found 2/);
});

test('CSVTOJSON: quoted fields (RFC 4180) hold delimiters, doubled quotes and newlines; quotes that are not CSV quoting are split as the agent does, counted', () => {
  const f = ['ts', 'name', 'value'];
  // Before: split at every comma, quotes kept ({"name":"\"x","value":" y\""}, a parse error).
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: f }], '1,"x, y",3').json, { ts: '1', name: 'x, y', value: '3' });
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: f }], '3,"quo""te",5').json, { ts: '3', name: 'quo"te', value: '5' });
  // A record joined from two lines (multiLineStartPattern: '^\d').
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: f }], '2,"multi\nline",4').json, { ts: '2', name: 'multi\nline', value: '4' });
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: f, delimiter: '\\t' }], '"a\tb"\t""\t').json, { ts: 'a\tb', name: '', value: '' });
  assert.deepEqual(run([{ optionName: 'CSVTOJSON', customFieldNames: f }], 'he said "hi",x,y').json, { ts: 'he said "hi"', name: 'x', value: 'y' });
  const open = run([{ optionName: 'CSVTOJSON', customFieldNames: f }], '1,"open,3');
  assert.deepEqual(open.json, { ts: '1', name: '"open', value: '3' });
  assert.match(open.error!, /quoted field is not closed/);
  assert.match(run([{ optionName: 'CSVTOJSON', customFieldNames: f }], '1,"a"b,3').error!, /quoted field/);
});

test('SINGLELINE, ADDBRACKETS and ADDMETADATA', () => {
  assert.equal(run([{ optionName: 'SINGLELINE' }], '  a\n   b  \nc').text, 'abc');
  assert.equal(run([{ optionName: 'ADDBRACKETS' }], '"a":1').text, '{"a":1}');
  assert.deepEqual(
    run(
      [
        { optionName: 'CSVTOJSON', customFieldNames: ['x'] },
        { optionName: 'ADDMETADATA', metadata: { site: 'plant-1' } },
      ],
      '7',
    ).json,
    {
      timestamp: 1_700_000_000_000,
      metadata: { site: 'plant-1' },
      data: { x: '7' },
    },
  );
});
