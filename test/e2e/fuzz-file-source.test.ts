// Fuzz the file source's parsers (gateway/pipeline/sources/file/parsers/: CSVTOJSON, LOGTOJSON with
// every built-in format, SINGLELINE, ADDMETADATA, ADDBRACKETS, multiLineStartPattern) with log
// lines, which are untrusted input: real files appended, read by a real FileSource into a real
// store (test/helpers/file-rig.ts), for a bounded time with a deterministic, printed seed
// (FUZZ_SEED, FUZZ_MS override). Each round takes a random chain of processing options and
// appends a new file of lines: sample lines of each format mutated (bit flips, inserts, cuts,
// boundary bytes, invalid UTF-8, quotes, very long fields) or random bytes, none holding a newline.
//
// Asserts: no crash (the test process is the source), no hang (every line of the round is a record
// in the store within 10 s: onParseError is raw, so nothing is dropped, and without a
// multiLineStartPattern one line is one record; with one, the records hold every line's text), no
// parse taking the event loop for long (a regular expression backtracking on a hostile line would
// stall the gateway: the largest event loop delay stays under a bound), and a chain ending in a
// JSON converter gives JSON for every record it parsed. FUZZ_DUMP=FILE keeps a failing round's file
// and its records (FILE.records) for the regression test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DataProcessingOption } from '../../gateway/pipeline/sources/file/options.js';
import { waitUntil } from '../helpers/index.js';
import { fileRig } from '../helpers/file-rig.js';
import { fuzzer, fuzzSettings } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 4000);
const f = fuzzer(SEED);
const { rnd, int, pick } = f;

const SAMPLES = [
  '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
  '127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
  '[Wed Oct 11 14:32:52 2000] [error] [pid 1234:tid 5678] [client 127.0.0.1:8080] client denied by server configuration: /export/home/live/ap/htdocs/test',
  'Mar  7 15:00:01 host-1 cron[123]: (root) CMD (run-parts /etc/cron.hourly)',
  '2026-12-07T10:00:00.123+01:00 host-1 sshd[99]: Accepted publickey for pi',
  "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event',
  'a,b,"c, with comma","d ""quoted"""',
  '1,2,3',
  '{"json":true,"n":[1,2]}',
  '  indented continuation line',
];
const FORMATS = ['COMMONAPACHELOG', 'COMBINEDAPACHELOG', 'APACHEERRORLOG', 'SYSLOG', 'RFC3339SYSLOG', 'RFC3164SYSLOG', 'RFC5424SYSLOG'] as const;

function randomChain(): DataProcessingOption[] {
  const chain: DataProcessingOption[] = [];
  for (let i = 0, n = int(3); i < n; i++) {
    switch (int(5)) {
      case 0:
        chain.push({ optionName: 'SINGLELINE' });
        break;
      case 1:
        chain.push({ optionName: 'CSVTOJSON', customFieldNames: ['a', 'b', 'c', 'd'].slice(0, 1 + int(4)), delimiter: pick([',', '\\t', ';', '||', '"']) });
        break;
      case 2:
        chain.push({ optionName: 'LOGTOJSON', logFormat: pick(FORMATS) } as DataProcessingOption);
        break;
      case 3:
        chain.push({ optionName: 'ADDMETADATA', metadata: { gw: 'fz' }, timestamp: rnd() < 0.5 } as DataProcessingOption);
        break;
      default:
        chain.push({ optionName: 'ADDBRACKETS' });
    }
  }
  return chain;
}

/** A hostile line: no newline in it (one line is one record), maybe invalid UTF-8, maybe long. */
function hostileLine(): Buffer {
  const r = rnd();
  let b: Buffer;
  if (r < 0.6) b = f.mutate(Buffer.from(pick(SAMPLES)));
  else if (r < 0.75) b = Buffer.from(`${pick(SAMPLES)}${pick(['"', ',', '[', '\\', ' ', 'a.'])}`.repeat(1 + int(200)));
  else if (r < 0.85) b = Buffer.from(pick(['a.', '1.', '-', ' ', '"', '[', 'aa ', '\\"']).repeat(1000 + int(20_000)));
  else b = f.randomBytes(int(300));
  // a newline would make two lines (and \r a stripped CR): keep it one line
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a || b[i] === 0x0d) b[i] = 0x20;
  return b;
}

test('fuzz file source parsers: hostile log lines through random processing chains; no crash, no hang, no loss, no stall', {
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz-file-source seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const rig = await fileRig(t, { paths: ['logs/*.log'], scanIntervalMs: 50 });
  await rig.source.start(rig.intake);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  t.after(() => delay.disable());
  let records = 0;
  let closedBefore = false;
  const counts = { rounds: 0, lines: 0, bytes: 0, multiLine: 0 };
  const deadline = Date.now() + DURATION_MS;
  while (Date.now() < deadline) {
    counts.rounds++;
    const chain = randomChain();
    // a start pattern and a line that starts a record under it (appended last: it closes the round's last
    // record); never two such rounds in a row (the count below takes the last one's closing line)
    const [multiLine, closer]: readonly [string | undefined, string] =
      !closedBefore && rnd() < 0.2
        ? pick([
            ['^\\S', '9'],
            ['^\\d', '9'],
            ['^<\\d+>', '<9>'],
            ['^\\[', '['],
          ] as const)
        : [undefined, ''];
    if (multiLine) counts.multiLine++;
    await rig.restart({ dataProcessingOptions: chain, multiLineStartPattern: multiLine, paths: [`logs/r${counts.rounds}.log`] } as never);
    // each file opens with a line of its own: a file whose first KiB (fingerprintBytes) is an earlier
    // file's is taken for a copy of it and read from that file's offset (docs/file-sources.md,
    // copytruncate), which the repeated lines below would make of two rounds' files
    const lines = [Buffer.from(`round ${counts.rounds} of seed ${SEED}`), ...Array.from({ length: 1 + int(40) }, hostileLine)];
    const file = join(rig.dir, 'logs', `r${counts.rounds}.log`);
    for (const l of lines) await appendFile(file, Buffer.concat([l, Buffer.from('\n')]));
    if (multiLine) await appendFile(file, `${closer}\n`);
    counts.lines += lines.length;
    counts.bytes += lines.reduce((n, l) => n + l.length + 1, 0);
    const what: string = `round ${counts.rounds} (seed ${SEED}): chain ${JSON.stringify(chain)} multiLineStartPattern ${JSON.stringify(multiLine)}`;
    if (multiLine) {
      // records are lines joined: wait until every record before the closing line is committed
      await waitUntil(
        () =>
          (rig.source.status().details?.files as Array<{ path: string; offset: number; size: number }> | undefined)?.some(
            (s) => s.path === file && s.size > 0 && s.offset === s.size - closer.length - 1,
          ),
        `the whole file read: ${what}`,
        10_000,
        20,
      ).catch((err: unknown) => {
        throw new Error(
          `${String(err)}; files ${JSON.stringify(rig.source.status().details?.files)}; lines ${JSON.stringify(lines.map((l) => l.toString('latin1').slice(0, 60)))}`,
        );
      });
      records = (await rig.lines()).length;
      closedBefore = true;
      continue;
    }
    // the last round's closing line, when it had one, is a record held at the stop: the next
    // source reads it again from the committed offset (that file stays tracked), one more record
    const want: number = records + lines.length + (closedBefore ? 1 : 0);
    await waitUntil(async () => (await rig.lines()).length >= want, `${lines.length} records of round ${counts.rounds}: ${what}`, 10_000, 20).catch(
      async (err: unknown) => {
        if (process.env.FUZZ_DUMP) {
          const fs = await import('node:fs/promises');
          await fs.copyFile(file, process.env.FUZZ_DUMP);
          await fs.writeFile(`${process.env.FUZZ_DUMP}.records`, (await rig.lines()).slice(records).join('\n=====\n'));
        }
        throw new Error(
          `${String(err)}; found ${(await rig.lines()).length - records} (closedBefore ${closedBefore}); files ${JSON.stringify(rig.source.status().details?.files)}`,
        );
      },
    );
    const all = await rig.lines();
    assert.equal(
      all.length,
      want,
      `one record a line: ${what}\n${all
        .slice(records)
        .map((r) => r.slice(0, 80))
        .join('\n')}`,
    );
    const last = chain.at(-1)?.optionName;
    // (a LOGTOJSON that does not match stops the chain: that record stays as it was, not JSON)
    if ((last === 'ADDMETADATA' || last === 'CSVTOJSON') && chain.every((o) => o.optionName !== 'LOGTOJSON')) {
      for (const rec of all.slice(records)) assert.doesNotThrow(() => JSON.parse(rec), `JSON from ${last} in ${what}: ${JSON.stringify(rec.slice(0, 200))}`);
    }
    records = want;
    closedBefore = false;
  }
  const maxDelayMs = delay.max / 1e6;
  console.log(`# fuzz-file-source ${JSON.stringify(counts)}; largest event loop delay ${maxDelayMs.toFixed(0)} ms`);
  // a regular expression backtracking on a hostile line would hold the loop for seconds
  assert.ok(maxDelayMs < 1000, `the event loop was held ${maxDelayMs.toFixed(0)} ms`);
});
