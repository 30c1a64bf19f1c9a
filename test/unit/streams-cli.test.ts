// `gatehouse streams`: what an exporter line tells a user during an HTTP 500 storm (every send
// failing: nothing counted against the records) and with a poison record (failing alone while
// others go through: its tries count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeExporter, describeStream } from '../../gateway/cli/streams.js';
import type { ExporterStatus } from '../../gateway/upstream/status.js';

function row(over: Partial<ExporterStatus>): ExporterStatus {
  return {
    name: 'cloud',
    stream: 'archive',
    destination: { kind: 'http', target: 'http://127.0.0.1:1/firehose' },
    state: 'backoff',
    lastExportedSeq: 0,
    lastExportAt: undefined,
    lastError: { message: 'HTTP 500 from http://127.0.0.1:1/firehose: boom', at: '2026-12-03T10:00:30.000Z', since: '2026-12-03T09:12:00.000Z', current: true },
    exportedRecords: 0,
    exportedBytes: 0,
    retries: 40,
    deadLetters: 0,
    parked: 7,
    held: 0,
    heldBack: false,
    outage: true,
    setupFault: false,
    skipped: { retention: 0, unreadable: 0 },
    inconsistentReads: 0,
    readStall: undefined,
    backlog: { records: 30, bytes: 552, ageSeconds: 30 },
    ...over,
  };
}

test('a 500 storm: records held alone are not said to be suspected; the line says every send fails and nothing is spent', () => {
  const never = describeExporter(row({}));
  assert.match(never, /7 held alone/);
  assert.doesNotMatch(never, /suspected/);
  assert.match(never, /no send accepted yet/);
  assert.match(never, /nothing counted against them until the destination accepts other records/);

  const since = describeExporter(row({ lastExportAt: Date.parse('2026-12-03T10:00:00Z'), lastExportedSeq: 5 }));
  assert.match(since, /no send accepted since 2026-12-03T10:00:00.000Z/);
  assert.doesNotMatch(since, /suspected|recovered/);
});

test('an ACL or permission refusing every record: records held alone are neither an outage nor suspected; the line says the setup and the normal pace', () => {
  const line = describeExporter(row({ outage: false, setupFault: true }));
  assert.match(
    line,
    /7 held alone \(no send accepted yet: nothing counted against them until the destination accepts other records; refused by the destination for the gateway's setup/,
  );
  assert.match(line, /retried at the normal pace \(backoff\.maxMs\) until it is fixed/);
  // Before: 'suspected of failing sends: each failure after an accepted send counts against maxAttempts'.
  assert.doesNotMatch(line, /suspected|an outage or a storm/);
});

test('a failing exporter says since when it fails (the first error after the last send that went through), then its last error', () => {
  const line = describeExporter(row({}));
  assert.match(line, /failing since 2026-12-03T09:12:00.000Z, last error \(2026-12-03T10:00:30.000Z\): HTTP 500/);
  // A gateway older than this CLI sends no `since`: the line is as before.
  const { since: _, ...old } = row({}).lastError!;
  assert.match(describeExporter({ ...row({}), lastError: old }), /; last error \(2026-12-03T10:00:30.000Z\)/);
});

test('a poison record: held alone while other records go through, its failures count against maxAttempts', () => {
  // Between its tries (the last error newer than the last accepted probe) as well as after them.
  const waiting = describeExporter(row({ outage: false, lastExportAt: Date.parse('2026-12-03T10:00:29Z'), lastExportedSeq: 29 }));
  assert.match(waiting, /7 held alone \(suspected/);
  assert.doesNotMatch(waiting, /nothing counted/);
  const line = describeExporter(row({ outage: false, state: 'running', lastExportAt: Date.parse('2026-12-03T10:00:31Z'), lastExportedSeq: 29 }));
  assert.match(line, /7 held alone \(suspected of failing sends: each failure after an accepted send counts against maxAttempts\)/);
});

test('no parked record: the line is unchanged', () => {
  const lastError = {
    message: 'HTTP 500 from http://127.0.0.1:1/firehose: boom',
    at: '2026-12-03T10:00:30.000Z',
    since: '2026-12-03T10:00:29.000Z',
    current: false,
  };
  const line = describeExporter(row({ parked: 0, outage: false, state: 'running', lastError, lastExportAt: Date.parse('2026-12-03T10:00:31Z') }));
  assert.doesNotMatch(line, /held alone/);
  assert.match(line, /recovered from \(2026-12-03T10:00:30.000Z\)/);
  assert.doesNotMatch(line, /failing since/);
  // The wall clock stepped back between the error and the next successful send: the order of
  // events (current: false), not the times, says it recovered.
  const stepped = describeExporter(row({ parked: 0, outage: false, state: 'running', lastError, lastExportAt: Date.parse('2025-12-03T10:00:31Z') }));
  assert.match(stepped, /recovered from/);
});

test('records skipped past and a held position are said, not hidden behind the checkpoint', () => {
  const line = describeExporter(
    row({
      skipped: { retention: 12, unreadable: 2 },
      inconsistentReads: 3,
      readStall: { seq: 31, firstSeq: 20, lastSeq: 40, since: '2026-12-03T10:00:31.000Z', reads: 3 },
    }),
  );
  assert.match(line, /12 skipped \(dropped by retention before export\)/);
  assert.match(line, /2 skipped \(the store could not return them: GH_STORE_CORRUPT in its log\)/);
  assert.match(line, /HOLDING at seq 31 since 2026-12-03T10:00:31\.000Z: .*firstSeq 20, lastSeq 40; 3 reads, .*nothing skipped/);
  const quiet = describeExporter(row({}));
  assert.doesNotMatch(quiet, /skipped \(|HOLDING/);
});

test('a stream line says how full the stream is, how old its oldest record is, and the appends it refused', async () => {
  const { describeStream } = await import('../../gateway/cli/streams.js');
  const now = Date.parse('2026-12-04T12:00:00Z');
  const full = describeStream(
    {
      name: 'archive',
      firstSeq: 1,
      lastSeq: 63,
      records: 63,
      bytes: 64764,
      droppedRecords: 0,
      rejectedAppends: 2,
      maxBytes: 65536,
      onFull: 'reject',
      oldestAt: '2026-12-04T11:58:30.000Z',
      exporters: [],
    },
    now,
  );
  assert.match(full, /^archive: seq 1\.\.63, 63 records held \(63 appended\), 63\.2 KiB of 64\.0 KiB \(98%, onFull reject\)/);
  assert.match(full, /oldest 90 s old/);
  assert.match(full, /2 appends refused \(the stream was full for store\.appendTimeoutMs\)/);
  // A gateway older than this CLI sends none of the new fields: the line is as it was.
  const old = describeStream({ name: 'a', firstSeq: 1, lastSeq: 2, records: 2, bytes: 10, exporters: [] }, now);
  assert.equal(old, 'a: seq 1..2, 2 records held (2 appended), 10 B');
});

test("the destination is shown once: a target that already names its kind is not prefixed with it again ('nats nats:...' before)", () => {
  const line = (kind: string, target: string): string => describeExporter(row({ destination: { kind, target } }));
  assert.match(line('nats', 'nats:nats://hub:4222/GH'), /^ {2}-> cloud \(nats:nats:\/\/hub:4222\/GH\) backoff:/);
  assert.match(line('mqtt', 'mqtt:mqtts://broker:8883 (site1)'), /^ {2}-> cloud \(mqtt:mqtts:\/\/broker:8883 \(site1\)\) backoff:/);
  assert.match(line('kinesis', 'kinesis:eu-west-1/telemetry'), /\(kinesis:eu-west-1\/telemetry\)/);
  assert.match(line('s3', 's3://bucket/site1/'), /\(s3:\/\/bucket\/site1\/\)/);
  // Targets that do not name it keep the kind in front.
  assert.match(line('file', '/var/lib/gatehouse/export'), /\(file \/var\/lib\/gatehouse\/export\)/);
  assert.match(line('http', 'https://ingest.example.com/firehose'), /\(http https:\/\/ingest\.example\.com\/firehose\)/);
});

test('the exporter of a removed or changed upstream rule action says it is retiring, and when it goes', () => {
  assert.match(describeExporter(row({ retiring: true })), /backoff RETIRING \(no rule appends to its stream any more: it stops once the backlog is exported\)/);
  assert.doesNotMatch(describeExporter(row({})), /RETIRING/);
});

test('records held at a destination that rebatches (one failing Kinesis shard): the line counts them, and says in capitals when the window is full of them', () => {
  const base = { destination: { kind: 'kinesis', target: 'kinesis:eu-west-1/fleet' }, parked: 0, outage: false, state: 'running' as const, lastExportedSeq: 1 };
  const flowing = describeExporter(row({ ...base, held: 12 }));
  assert.match(
    flowing,
    /, 12 held \(throttled by the destination, e\.g\. one failing Kinesis shard: nothing counted against them; they join later batches while the other records go\)/,
  );
  assert.doesNotMatch(flowing, /HELD BACK|held alone/);
  const full = describeExporter(row({ ...base, held: 160, heldBack: true }));
  assert.match(
    full,
    /, 160 held \(throttled by the destination, e\.g\. one failing Kinesis shard: nothing counted against them\), HELD BACK: the window is full of them, nothing more is read until the destination takes them \(the backlog grows\)/,
  );
  // None held, or a gateway older than this CLI (no `held`): the line says nothing of them.
  assert.doesNotMatch(describeExporter(row(base)), / held \(|HELD BACK/);
  const { held: _h, heldBack: _b, ...old } = row(base);
  assert.doesNotMatch(describeExporter(old), / held \(|HELD BACK/);
});

test('one record is said as one: "1 record held", "1 record" exported, "1 append refused" (it read "1 records")', () => {
  const one = describeStream({ name: 'alerts', firstSeq: 1, lastSeq: 1, records: 1, bytes: 190, rejectedAppends: 1, exporters: [] }, Date.now());
  assert.match(one, /^alerts: seq 1\.\.1, 1 record held \(1 appended\), 190 B, 1 append refused \(/);
  assert.match(describeExporter(row({ exportedRecords: 1 })), /exported through seq 0, 1 record, backlog 30/);
  assert.match(describeExporter(row({ exportedRecords: 2 })), /exported through seq 0, 2 records, backlog 30/);
});

test("one of a thing is said in the singular: '1 record held', '1 record' exported, '1 dead letter', '1 attempt' (before: '1 records held', '1 attempts')", async () => {
  const { describeStream } = await import('../../gateway/cli/streams.js');
  const { describeDeadLetters } = await import('../../gateway/cli/dead-letters.js');
  assert.equal(
    describeStream({ name: 'a', firstSeq: 3, lastSeq: 3, records: 1, bytes: 10, exporters: [] }, 0),
    'a: seq 3..3, 1 record held (3 appended), 10 B',
  );
  assert.match(describeExporter(row({ exportedRecords: 1 })), /, 1 record, backlog /);
  assert.match(describeExporter(row({ exportedRecords: 2 })), /, 2 records, backlog /);
  const example = {
    seq: 1,
    topic: 'dev/dev0/data',
    receivedAt: '2026-12-06T20:14:03.117Z',
    sourceStream: 'archive',
    sourceSeq: 152,
    destination: 'http:http://127.0.0.1:8080/',
    attempts: 1,
  };
  const summary: Parameters<typeof describeDeadLetters>[0] = {
    stream: 'archive-dlq',
    exporters: ['archive-http'],
    records: 1,
    bytes: 120,
    firstSeq: 1,
    lastSeq: 1,
    oldestAt: '2026-12-06T20:14:03.117Z',
    droppedRecords: 0,
    sources: { archive: 1 },
    errors: [{ error: 'GH_EXPORT_PERMANENT: HTTP 413 from http://127.0.0.1:8080/', count: 1, example }],
    otherErrors: 0,
  };
  const text = describeDeadLetters(summary);
  assert.match(text, /^archive-dlq \(of archive-http\): 1 dead letter, seq 1\.\.1, /);
  assert.match(text, /, 1 attempt$/);
});
