// Compressed bodies on the `type: http` source (Fluent Bit's `compress gzip`, Telegraf's
// content_encoding = "gzip"): decoded with node:zlib as they are read, the DECODED size held to
// maxBodyBytes (a gzip bomb is refused 413 after at most maxBodyBytes and one zlib chunk decoded,
// memory bounded), a body that does not decode refused 400 naming its encoding, and nothing
// submitted for a body refused anywhere. Real curl and node's http client against the real
// server over a REAL store (test/helpers/http-post.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { metricValue, needBinary } from '../helpers/index.js';
import { readAll } from '../helpers/store-intake.js';
import { httpRig, post } from '../helpers/http-post.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GZIP = { 'content-encoding': 'gzip' };

/** A gzip bomb: `members` gzip members of 16 MiB of zeros each (deflate's best, ~1030:1), concatenated (gunzip reads them as one body). */
function gzipBomb(members: number): Buffer {
  const one = gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: members }, () => one));
}

/** What the 413's reason says was decoded when decoding stopped. */
function decodedAt(message: string): number {
  const m = /decoding stopped at (\d+) bytes/.exec(message);
  assert.ok(m, message);
  return Number(m[1]);
}

test('http source: gzip and deflate bodies are decoded (one message, an NDJSON batch, zlib and raw deflate), stored decoded; another encoding 415', async (t) => {
  const { port, store, intake, deps } = await httpRig(t);
  const one = await post(port, '/topics/shelly/t', gzipSync('{"temp":21.5}'), { headers: { ...GZIP, 'content-type': 'application/json' } });
  assert.equal(one.status, 200, one.body);
  const ndjson = Buffer.from(Array.from({ length: 500 }, (_, i) => JSON.stringify({ cpu: i, host: 'pi' })).join('\n'));
  const batch = await post(port, '/topics/telegraf/cpu', gzipSync(ndjson), {
    headers: { 'content-encoding': 'x-gzip', 'content-type': 'application/x-ndjson' },
  });
  assert.equal(batch.status, 200, batch.body);
  assert.equal(batch.json().messages, 500);
  const zlibbed = await post(port, '/topics/d/zlib', deflateSync('zlib-wrapped'), { headers: { 'content-encoding': 'deflate' } });
  assert.equal(zlibbed.status, 200, zlibbed.body);
  const raw = await post(port, '/topics/d/raw', deflateRawSync('raw deflate'), { headers: { 'content-encoding': 'Deflate' } });
  assert.equal(raw.status, 200, raw.body);
  const recs = await readAll(store, 'in');
  assert.equal(recs.length, 503);
  assert.equal(recs[0]?.payload.toString(), '{"temp":21.5}');
  assert.equal(recs[1]?.payload.toString(), '{"cpu":0,"host":"pi"}');
  assert.equal(recs[500]?.payload.toString(), '{"cpu":499,"host":"pi"}');
  assert.deepEqual(
    recs.slice(501).map((r) => r.payload.toString()),
    ['zlib-wrapped', 'raw deflate'],
  );
  // the bytes counted are the payloads', decoded
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_bytes_total'), 13 + ndjson.length - 499 + 12 + 11);
  for (const e of ['br', 'zstd', 'gzip, gzip', 'compress']) {
    const r = await post(port, '/topics/x', 'x', { headers: { 'content-encoding': e } });
    assert.equal(r.status, 415, e);
    assert.match(r.json().message as string, /send the body uncompressed or as gzip \(x-gzip\) and deflate/);
  }
  assert.equal(intake.messages.length, 503, 'nothing of the refused encodings submitted');
});

test('http source: a 1 GiB gzip bomb (1 MiB sent) is refused 413 once maxBodyBytes are decoded, memory bounded, counted, nothing submitted; the server serves on', async (t) => {
  const { port, intake, deps, store } = await httpRig(t);
  const bomb = gzipBomb(64); // 64 x 16 MiB = 1 GiB decoded
  assert.ok(bomb.length < MiB, `the bomb is ${bomb.length} bytes: under maxBodyBytes as sent`);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const r = await post(port, '/topics/bomb', bomb, { headers: GZIP });
  const cpu = process.cpuUsage(cpuBefore);
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  assert.equal(r.status, 413, r.body);
  assert.equal(r.headers.connection, 'close');
  assert.equal((r.json().error as { code: string }).code, 'GH_HTTP_SOURCE_TOO_LARGE');
  const decoded = decodedAt(r.json().message as string);
  t.diagnostic(
    `1 GiB bomb (${bomb.length} bytes sent): decoded ${decoded} bytes, rss +${Math.round(rssGrowth / 1024)} KiB, ${Math.round((cpu.user + cpu.system) / 1000)} ms CPU`,
  );
  // Stopped at the first zlib chunk (16 KiB) past maxBodyBytes (1 MiB), never the 1 GiB.
  assert.ok(decoded > MiB && decoded <= MiB + 64 * 1024, `decoded ${decoded}`);
  // Inflating 1 GiB takes seconds of CPU and would hold a GiB; this took milliseconds and a few MiB.
  assert.ok(rssGrowth < 64 * MiB, `rss grew ${rssGrowth} bytes`);
  assert.ok(cpu.user + cpu.system < 1_000_000, `${cpu.user + cpu.system} us of CPU`);
  assert.equal(await metricValue(deps.registry, 'gatehouse_http_source_requests_total', { outcome: 'too-large' }), 1);
  assert.equal(intake.messages.length, 0);
  // an NDJSON bomb too: no line of it submitted, though the first MiB holds whole lines
  const lines = Buffer.from(`${'{"a":1}\n'.repeat((2 * MiB) / 8)}`);
  const nd = await post(port, '/topics/nd', gzipSync(lines), { headers: { ...GZIP, 'content-type': 'application/x-ndjson' } });
  assert.equal(nd.status, 413);
  assert.equal(intake.messages.length, 0);
  assert.equal((await readAll(store, 'in')).length, 0);
  // what is sent compressed is held to maxBodyBytes too (incompressible bytes, said by Content-Length or not)
  const noise = gzipSync(Buffer.from(Array.from({ length: MiB }, (_, i) => (i * 7919) % 251)), { level: 0 });
  assert.equal((await post(port, '/topics/noise', noise, { headers: GZIP })).status, 413);
  assert.equal((await post(port, '/topics/after', gzipSync('ok'), { headers: GZIP })).status, 200);
});

test('http source: a gzip body that does not decode (corrupt, cut short, empty, not gzip) is 400 naming gzip, nothing submitted; a bad NDJSON line inside gzip refuses the whole batch', async (t) => {
  const { port, intake } = await httpRig(t);
  const good = gzipSync(Buffer.from('{"a":1}\n{"a":2}\n'));
  const corrupt = Buffer.from(good);
  corrupt[good.length - 6] = (corrupt[good.length - 6] as number) ^ 0xff; // the CRC-32
  for (const [what, body] of [
    ['corrupt', corrupt],
    ['cut short', good.subarray(0, good.length - 4)],
    ['empty', Buffer.alloc(0)],
    ['not gzip', Buffer.from('{"a":1}')],
  ] as const) {
    const r = await post(port, '/topics/x', body, { headers: GZIP });
    assert.equal(r.status, 400, `${what}: ${r.body}`);
    assert.match(r.json().message as string, /the gzip body does not decode \(.+\): nothing was taken/, what);
    assert.equal((r.json().error as { code: string }).code, 'GH_HTTP_SOURCE_REQUEST');
  }
  const bad = await post(port, '/topics/nd', gzipSync('{"a":1}\n{"a":\n'), { headers: { ...GZIP, 'content-type': 'application/x-ndjson' } });
  assert.equal(bad.status, 400);
  assert.match(bad.json().message as string, /NDJSON line 2 is not JSON/);
  assert.equal(intake.messages.length, 0);
});

test('http source: curl --data-binary @x.gz -H "Content-Encoding: gzip" (one message, an NDJSON file, a bomb)', {
  skip: needBinary('curl', 'curl'),
}, async (t) => {
  const { port, store, dir } = await httpRig(t);
  const one = join(dir, 'reading.json.gz');
  await writeFile(one, gzipSync('{"temp":19.25}'));
  const nd = join(dir, 'metrics.ndjson.gz');
  await writeFile(nd, gzipSync('{"cpu":1}\n{"cpu":2}\n{"cpu":3}\n'));
  const bomb = join(dir, 'bomb.gz');
  await writeFile(bomb, gzipBomb(64));
  const curl = async (file: string, topic: string, extra: string[] = []): Promise<{ code: number; body: Record<string, unknown> }> => {
    const { stdout } = await run('curl', [
      '-s',
      '-w',
      '\n%{http_code}',
      '-X',
      'POST',
      '--data-binary',
      `@${file}`,
      '-H',
      'Content-Encoding: gzip',
      ...extra,
      `http://127.0.0.1:${port}/topics/${topic}`,
    ]);
    const at = stdout.lastIndexOf('\n');
    return { code: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) as Record<string, unknown> };
  };
  assert.deepEqual(await curl(one, 'weather/roof'), { code: 200, body: { message: 'OK', topic: 'weather/roof', messages: 1 } });
  assert.deepEqual(await curl(nd, 'telegraf/cpu', ['-H', 'Content-Type: application/x-ndjson']), {
    code: 200,
    body: { message: 'OK', topic: 'telegraf/cpu', messages: 3 },
  });
  const refused = await curl(bomb, 'bomb');
  assert.equal(refused.code, 413);
  assert.ok(decodedAt(refused.body.message as string) <= MiB + 64 * 1024);
  assert.deepEqual(
    (await readAll(store, 'in')).map((r) => r.payload.toString()),
    ['{"temp":19.25}', '{"cpu":1}', '{"cpu":2}', '{"cpu":3}'],
  );
});
