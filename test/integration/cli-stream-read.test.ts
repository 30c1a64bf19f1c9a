// `gatehouse streams read NAME` (gateway/cli/stream-read.ts) against the real in-process gateway:
// records published by real mqtt.js clients at QoS 1, read back through the admin API by the CLI
// as a user runs it (main(): parsing, paging, formats, errors), and --follow seeing what arrives.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { main } from '../../gateway/cli/main.js';
import { runStreamRead } from '../../gateway/cli/stream-read.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const RULES = `version: 1
rules:
  - { name: up, sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: up } }] }
  - { name: quiet, sql: "SELECT * FROM 'never/+'", actions: [{ stream: { name: quiet } }] }
`;

async function gateway(t: TestContext): Promise<{ gw: Gateway; admin: string; publish: (topic: string, payloads: Array<string | Buffer>) => Promise<void> }> {
  const dir = await tempDir(t);
  const rulesFile = join(dir, 'rules.yaml');
  const file = join(dir, 'g.yaml');
  await writeFile(rulesFile, RULES);
  // No exporter: the records stay where the reader can see them.
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: ${JSON.stringify(rulesFile)}\nstreams: { up: {}, quiet: {} }\n`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    version: 'test',
  });
  t.after(() => gw.stop());
  const url = `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`;
  return {
    gw,
    admin: `http://127.0.0.1:${gw.admin!.address().port}`,
    async publish(topic, payloads) {
      const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
      // One at a time, awaited: the PUBACK says it is stored, and the order is the stream's.
      for (const p of payloads) await c.publishAsync(topic, p, { qos: 1 });
      await c.endAsync();
    },
  };
}

test('streams read prints each record on a line: seq, time, topic, payload (quoted with a line break, base64 when binary)', async (t) => {
  const { admin, publish } = await gateway(t);
  await publish('dev/7/data', ['{"t":21.5}', '{"t":\n22}', Buffer.from([0xff, 0x00, 0x80])]);
  const r = await runCaptured(main, ['streams', 'read', 'up', '--admin', admin]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 3, r.out);
  assert.match(lines[0]!, /^1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z dev\/7\/data \{"t":21\.5\}$/);
  assert.match(lines[1]!, /^2 \S+ dev\/7\/data "\{\\"t\\":\\n22\}"$/);
  assert.match(lines[2]!, /^3 \S+ dev\/7\/data base64:\/wCA$/);
});

test('streams read --last, --from, --limit and --json choose and shape what is printed, across pages', async (t) => {
  const { admin, publish } = await gateway(t);
  // More than one page of the API (1,000 a page).
  await publish(
    'dev/1/data',
    Array.from({ length: 1205 }, (_, i) => JSON.stringify({ i })),
  );
  const all = await runCaptured(main, ['streams', 'read', 'up', '--admin', admin]);
  const seqs = all.out
    .trimEnd()
    .split('\n')
    .map((l) => Number(l.split(' ')[0]));
  assert.equal(seqs.length, 1205);
  assert.deepEqual([seqs[0], seqs[999], seqs[1000], seqs[1204]], [1, 1000, 1001, 1205]);

  const last = await runCaptured(main, ['streams', 'read', 'up', '--last', '2', '--admin', admin]);
  assert.deepEqual(
    last.out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(' ').slice(-1)[0]),
    ['{"i":1203}', '{"i":1204}'],
  );
  const from = await runCaptured(main, ['streams', 'read', 'up', '--from', '1100', '--limit', '3', '--json', '--admin', admin]);
  const rows = from.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; topic: string; payload: string; receivedAt: string });
  assert.deepEqual(
    rows.map((r) => [r.seq, r.topic, r.payload]),
    [
      [1100, 'dev/1/data', '{"i":1099}'],
      [1101, 'dev/1/data', '{"i":1100}'],
      [1102, 'dev/1/data', '{"i":1101}'],
    ],
  );
  assert.ok(!Number.isNaN(Date.parse(rows[0]!.receivedAt)));
  // Past the end: nothing on stdout, what it holds on stderr.
  const past = await runCaptured(main, ['streams', 'read', 'up', '--from', '5000', '--admin', admin]);
  assert.equal(past.code, 0);
  assert.equal(past.out, '');
  assert.match(past.err, /holds no records from seq 5000: it holds 1\.\.1205/);
});

test('streams read names a missing stream with the one meant, an empty one as empty, and refuses bad options', async (t) => {
  const { admin } = await gateway(t);
  const typo = await runCaptured(main, ['streams', 'read', 'upp', '--admin', admin]);
  assert.equal(typo.code, 2);
  assert.match(typo.err, /no local stream 'upp' \(did you mean up\?\)/);
  assert.match(typo.err, /quiet/);
  const empty = await runCaptured(main, ['streams', 'read', 'quiet', '--admin', admin]);
  assert.equal(empty.code, 0);
  assert.equal(empty.out, '');
  assert.match(empty.err, /stream 'quiet' holds no records now/);
  for (const [args, re] of [
    [['--last', '0'], /--last must be a whole number \(1 or more\)/],
    [['--limit', 'ten'], /--limit must be a whole number/],
    [['--from', '3', '--last', '2'], /--from and --last both say where to start/],
  ] as const) {
    const r = await runCaptured(main, ['streams', 'read', 'up', ...args, '--admin', admin]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, re);
  }
  const none = await runCaptured(main, ['streams', 'read', '--admin', admin]);
  assert.equal(none.code, 2);
  assert.match(none.err, /expected one stream NAME/);
});

test('streams read --follow prints records as they arrive after the last one, until stopped', async (t) => {
  const { admin, publish } = await gateway(t);
  await publish('dev/2/data', ['{"n":1}']);
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const stop = new AbortController();
  const done = runStreamRead(['up', '--follow', '--last', '1', '--admin', admin], { stdout, stderr: new PassThrough() }, stop.signal);
  await waitUntil(() => out.includes('{"n":1}'), 'the record held before', 10_000);
  await publish('dev/2/data', ['{"n":2}', '{"n":3}']);
  await waitUntil(() => out.includes('{"n":3}'), 'the records published after', 10_000);
  stop.abort();
  assert.equal(await done, 0);
  assert.deepEqual(
    out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(' ')[0]),
    ['1', '2', '3'],
  );
});
