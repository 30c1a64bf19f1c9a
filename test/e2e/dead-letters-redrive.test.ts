// Redrive end to end, across a kill -9: the real gateway (child process) exports to the real
// Firehose-protocol receiver, which refuses the records marked "bad" with HTTP 400 (permanent:
// each is dead-lettered into up-dlq). The receiver is fixed, a redrive starts, and the gateway is
// killed -9 once the receiver holds part of what it sends again (an event seen by the test, no
// sleep): the redrive works in chunks and the target stream is small (its appends wait for the
// exporter), so the kill lands with dead letters in flight. After the restart each dead letter
// is still in up-dlq, or in up, or upstream; a second redrive (the CLI) then brings every one
// upstream, up-dlq ends empty and the counter says how many the second one moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { GatewayHandle } from '../helpers/upstream-e2e.js';
import { writeConfig } from '../helpers/gateway-process.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import { tempDir, waitUntil } from '../helpers/index.js';

const BAD = 2000;
const GOOD = 20;

interface Held {
  seq: number;
  payload?: string;
}

/** Every record a stream holds now, through the admin API, a page at a time. */
async function held(admin: string, stream: string): Promise<Held[]> {
  const out: Held[] = [];
  let from = 1;
  for (;;) {
    const res = await fetch(`${admin}/api/streams/${stream}/records?from=${from}&limit=1000`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { records: Held[]; next: number };
    out.push(...body.records);
    if (body.records.length === 0) return out;
    from = body.next;
  }
}

const idsOf = (payloads: Iterable<string | undefined>): Set<number> => {
  const out = new Set<number>();
  for (const p of payloads) {
    const v = JSON.parse(p ?? '{}') as { bad?: boolean; id?: number };
    if (v.bad && typeof v.id === 'number') out.add(v.id);
  }
  return out;
};

async function metric(admin: string, line: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(line.length).trim());
}

test('dead letters redriven once the destination is fixed all arrive, across a kill -9 in the middle of the redrive', { timeout: 180_000 }, async (t) => {
  const rx = await startFirehoseReceiver();
  t.after(() => rx.close());
  rx.rejectWhen((recs) => recs.some((r) => r.includes('"bad":true')), 400);
  const dir = await tempDir(t, 'gatehouse-dlq-e2e-');
  const config = {
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
    // Small (~75 records, a chunk is 500): a redrive's appends wait for the exporter, so the redrive
    // lasts as long as the export and the kill finds a chunk with appends still waiting for space.
    streams: { up: { maxBytes: 16 * 1024, onFull: 'reject' } },
    rules: { version: 1, rules: [{ name: 'to_up', sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: 'up', partitionKey: '${topic(2)}' } }] }] },
    // One record per request: a refused record is dead-lettered at once, without splitting batches.
    exporters: [
      { name: 'e2e', stream: 'up', destination: { type: 'http', url: rx.url }, batch: { maxRecords: 1, lingerMs: 0 }, backoff: { initialMs: 20, maxMs: 200 } },
    ],
  };
  const gw = new GatewayHandle(await writeConfig(dir, JSON.stringify(config, null, 2)), t);
  await gw.start();

  const client = await mqtt.connectAsync(gw.current.mqttUrl, { clientId: 'dlq-e2e', reconnectPeriod: 0 });
  const pad = 'x'.repeat(150);
  for (let k = 0; k < BAD; k += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => client.publishAsync(`dev/d${(k + i) % 4}/data`, JSON.stringify({ bad: true, id: k + i, pad }), { qos: 1 })),
    );
  }
  await Promise.all(Array.from({ length: GOOD }, (_, i) => client.publishAsync('dev/d0/data', JSON.stringify({ good: i }), { qos: 1 })));
  await client.endAsync();
  const dlqCount = async (): Promise<number> => {
    const body = (await (await fetch(`${gw.current.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; records: number }> };
    return body.streams.find((s) => s.name === 'up-dlq')?.records ?? 0;
  };
  await waitUntil(async () => (await dlqCount()) === BAD, `all ${BAD} bad records dead-lettered`, 90_000, 100);
  const before = await fetch(`${gw.current.adminUrl}/api/streams/up-dlq/dead-letters`);
  const [summary] = ((await before.json()) as { deadLetters: Array<{ records: number; errors: Array<{ count: number; error: string }> }> }).deadLetters;
  assert.equal(summary?.records, BAD);
  assert.equal(summary.errors[0]?.count, BAD);
  assert.match(summary.errors[0]!.error, /400/);

  // Fixed. The redrive runs; the kill comes once the receiver holds 700 redriven records: past the
  // first chunk of 500 (appended, then trimmed) and into the second.
  rx.rejectWhen(() => false);
  const acceptedBad = (): Set<number> => idsOf(rx.allRecords().map((b) => b.toString('utf8')));
  const redrive = fetch(`${gw.current.adminUrl}/api/streams/up-dlq/redrive`, { method: 'POST' }).then(
    (r) => r.status,
    () => 'killed',
  );
  await waitUntil(() => acceptedBad().size >= 700, '700 redriven records arrive', 60_000, 2);
  await gw.kill9();
  assert.equal(await redrive, 'killed', 'the kill landed before the redrive answered');
  const atKill = acceptedBad().size;

  await gw.start();
  const admin = gw.current.adminUrl;
  const inDlq = idsOf((await held(admin, 'up-dlq')).map((r) => r.payload));
  const inUp = idsOf((await held(admin, 'up')).map((r) => r.payload));
  const upstream = acceptedBad();
  const lost = Array.from({ length: BAD }, (_, i) => i).filter((id) => !inDlq.has(id) && !inUp.has(id) && !upstream.has(id));
  assert.deepEqual(lost, [], 'each dead letter is in up-dlq, in up, or upstream');
  assert.ok(inDlq.size > 0 && inDlq.size < BAD, `the kill landed mid-redrive: ${inDlq.size} of ${BAD} still in up-dlq`);
  const both = [...inDlq].filter((id) => inUp.has(id) || upstream.has(id)).length;
  t.diagnostic(
    `at the kill: ${atKill} upstream; after the restart: ${inDlq.size} in up-dlq, ${inUp.size} in up, ${upstream.size} upstream, ${both} in up-dlq and beyond (sent twice)`,
  );

  // The rest, with the CLI (in steps of 1,000): every dead letter upstream, up-dlq empty.
  const run = await runCaptured(main, ['streams', 'redrive', 'up-dlq', '--admin', admin]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, new RegExp(`^redrove ${inDlq.size} dead letters of up-dlq \\(${inDlq.size} into up\\) through seq ${BAD}; up-dlq is empty\\n$`));
  await waitUntil(() => acceptedBad().size === BAD, `all ${BAD} redriven records arrive`, 90_000, 100);
  assert.equal(await dlqCount(), 0);
  assert.equal(await metric(admin, 'gatehouse_dead_letters_redriven_total{stream="up-dlq"}'), inDlq.size);
  const good = rx.allRecords().filter((b) => b.includes('"good"')).length;
  assert.ok(good >= GOOD, `the ${GOOD} good records arrived (${good})`);
  const total = rx.allRecords().filter((b) => b.includes('"bad":true')).length;
  t.diagnostic(`redriven records received ${total} for ${BAD} dead letters (${total - BAD} duplicates)`);
  assert.equal(await gw.stop(), 0);
});
