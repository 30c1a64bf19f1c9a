// The admin HTTP API of a real in-process gateway: happy paths and abuse (bad parameters, unknown
// routes, wrong methods, oversized bodies, missing tokens). Real broker, store and mqtt.js client.
import { test } from 'node:test';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'node:http';
import mqtt from 'mqtt';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tempDir, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';
import type { JobStatus } from '../../gateway/control/jobs.js';

async function startInProcess(t: import('node:test').TestContext, extraYaml = ''): Promise<Gateway> {
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${extraYaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const deps = testDeps();
  const gw = await startGateway(config, { logger: deps.logger, registry: createMetricsRegistry('test', 'gw-test'), version: 'test' });
  t.after(() => gw.stop());
  return gw;
}

function base(gw: Gateway): string {
  return `http://127.0.0.1:${gw.admin!.address().port}`;
}

async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string; message: string; hint?: string } } }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

test('health, metrics, streams and records after a real publish', async (t) => {
  const gw = await startInProcess(t);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, { reconnectPeriod: 0 });
  await client.publishAsync('fleet/truck7/engine', '{"temp":96.5}', { qos: 1 });
  await client.publishAsync('fleet/truck7/raw', Buffer.from([0, 1, 2, 255]), { qos: 1 });
  await client.endAsync();

  const health = await call(`${base(gw)}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body.ok, true);

  const metrics = await (await fetch(`${base(gw)}/metrics`)).text();
  for (const name of [
    'gatehouse_mqtt_messages_in_total',
    'gatehouse_stream_records',
    'gatehouse_store_commit_seconds_bucket',
    'gatehouse_rule_matched_total',
    'gatehouse_process_cpu_user_seconds_total',
    // Linux only (/proc/self/io): the bytes that wear an SD card
    ...(existsSync('/proc/self/io') ? ['gatehouse_process_disk_written_bytes_total'] : []),
  ]) {
    assert.ok(metrics.includes(name), `metrics expose ${name}`);
  }

  const streams = await call(`${base(gw)}/api/streams`);
  const archive = (streams.body.streams as Array<{ name: string; lastSeq: number; records: number }>).find((s) => s.name === 'archive');
  assert.equal(archive?.lastSeq, 2);

  const records = await call(`${base(gw)}/api/streams/archive/records?from=1&limit=10`);
  const list = records.body.records as Array<{ seq: number; topic: string; payload?: string; payloadBase64?: string }>;
  assert.equal(list.length, 2);
  assert.equal(list[0]!.payload, '{"temp":96.5}');
  assert.equal(list[1]!.payloadBase64, Buffer.from([0, 1, 2, 255]).toString('base64'), 'binary payloads come back as base64');
  assert.equal(records.body.next, 3);
});

test('GET /api/sources and /api/overview list every source; /metrics has gatehouse_source_up', async (t) => {
  const gw = await startInProcess(t);
  const res = await call(`${base(gw)}/api/sources`);
  assert.equal(res.status, 200);
  const sources = res.body.sources as Array<{ kind: string; name: string; state: string }>;
  assert.deepEqual(
    sources.map((s) => `${s.kind}/${s.name}:${s.state}`),
    ['mqtt/broker:running', 'serial/serial:running', 'control/control:running', 'republish/republish:running', 'shadows/shadows:running'],
  );
  const overview = await call(`${base(gw)}/api/overview`);
  assert.equal((overview.body.sources as unknown[]).length, 5);
  const metrics = await (await fetch(`${base(gw)}/metrics`)).text();
  assert.match(metrics, /gatehouse_source_up\{kind="mqtt",name="broker"\} 1/);
});

test('the status page serves its Sources section and module (sources.js), without the token like its other files', async (t) => {
  const gw = await startInProcess(t, 'admin: { token: "0123456789abcdef0123" }\n');
  const page = await fetch(`${base(gw)}/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<h2 id="h-sources">Sources<\/h2>/);
  assert.match(html, /<tbody id="sources-body"><\/tbody>/);
  assert.ok(html.indexOf('id="h-links"') < html.indexOf('id="h-sources"') && html.indexOf('id="h-sources"') < html.indexOf('id="h-files"'));
  const mod = await fetch(`${base(gw)}/sources.js`);
  assert.equal(mod.status, 200);
  assert.equal(mod.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(await mod.text(), /export function renderSources\(o\)/);
  // The entry module loads it and draws it with every overview.
  const app = await (await fetch(`${base(gw)}/app.js`)).text();
  assert.match(app, /^import \{ renderSources \} from '\.\/sources\.js';$/m);
  assert.match(app, /renderSources\(o\);/);
});

test('API abuse: clear JSON errors with codes, never a crash', async (t) => {
  const gw = await startInProcess(t);
  const cases: Array<[string, RequestInit, number, string]> = [
    ['/api/streams/archive/records?from=abc', {}, 400, 'GH_ADMIN_BAD_REQUEST'],
    ['/api/streams/archive/records?limit=0', {}, 400, 'GH_ADMIN_BAD_REQUEST'],
    ['/api/streams/archive/records?limit=99999', {}, 400, 'GH_ADMIN_BAD_REQUEST'],
    ['/api/streams/nope/records', {}, 404, 'GH_ADMIN_NOT_FOUND'],
    ['/api/streams/%E0%A4%A/records', {}, 400, 'GH_ADMIN_BAD_REQUEST'],
    ['/no/such/route', {}, 404, 'GH_ADMIN_NOT_FOUND'],
    ['/api/streams', { method: 'DELETE' }, 405, 'GH_ADMIN_BAD_REQUEST'],
    // Refused rule sets answer in the API's error shape too (with the rule status beside it).
    ['/api/rules', { method: 'PUT', body: 'version: [unclosed' }, 400, 'GH_RULESET_INVALID'],
    ['/api/rules', { method: 'PUT', body: '[1,2]' }, 400, 'GH_RULESET_INVALID'],
    [
      '/api/rules',
      { method: 'PUT', body: JSON.stringify({ version: 9, rules: [{ name: 'x', sql: 'SELECT FROM', actions: [{ stream: { name: 'archive' } }] }] }) },
      400,
      'GH_RULESET_INVALID',
    ],
    ['/api/rules/rollback', { method: 'POST' }, 409, 'GH_RULESET_NO_ROLLBACK'],
  ];
  // The catalogue's message of GH_ADMIN_NOT_FOUND (it said "no local stream named 'nope'").
  const noStream = await call(`${base(gw)}/api/streams/nope/records`);
  assert.equal(noStream.body.error?.message, "local stream 'nope' not found");
  assert.match(noStream.body.error?.hint ?? '', /^known streams: /);
  for (const [path, init, status, code] of cases) {
    const r = await call(`${base(gw)}${path}`, init);
    assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}`);
    if (code) assert.equal(r.body.error?.code, code, `${path} error code`);
    if (code) assert.ok(r.body.error?.message && r.body.error?.hint, `${path}: error message and hint: ${JSON.stringify(r.body)}`);
    // error.code and error.hint say the code and the fix: the message does not repeat them.
    if (code)
      assert.ok(
        !r.body.error?.message?.includes(code) && !r.body.error?.message?.includes('Fix:'),
        `${path}: message repeats the code or the fix: ${r.body.error?.message}`,
      );
  }
  // A rejected rule set lists its errors and leaves the running set alone.
  const rejected = await call(`${base(gw)}/api/rules`, {
    method: 'PUT',
    body: JSON.stringify({ version: 9, rules: [{ name: 'x', sql: "SELECT * FROM 'a' WHERE", actions: [{ stream: { name: 'archive' } }] }] }),
  });
  assert.equal(rejected.body.state, 'rejected');
  assert.match(JSON.stringify(rejected.body.errors), /line 1, column/);
  // An empty body says so (it read 'expected object, received null').
  const empty = await call(`${base(gw)}/api/rules`, { method: 'PUT', body: '' });
  assert.equal(empty.status, 400);
  assert.match(JSON.stringify(empty.body.errors), /empty: no rule set in the body; send a rule set in YAML or JSON/);
  const rules = await call(`${base(gw)}/api/rules`);
  assert.equal(rules.body.activeVersion, 1);

  // The status page cannot be framed by another site (clickjacking).
  const page = await fetch(`${base(gw)}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-security-policy'), "frame-ancestors 'none'");
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  await page.arrayBuffer();

  // Oversized body: 413 before reading it all.
  const big = await call(`${base(gw)}/api/rules`, { method: 'PUT', body: Buffer.alloc(2 * 1024 * 1024, 0x61) });
  assert.equal(big.status, 413);
  assert.equal(big.body.error?.code, 'GH_ADMIN_TOO_LARGE');
  // The catalogue's message (docs/errors.md), from the Content-Length...
  assert.equal(big.body.error?.message, 'request body of 2097152 bytes exceeds the limit of 1048576 bytes');
  // ...and for a chunked body (no Content-Length), read to its end: the client gets the answer
  // (it saw a reset of the connection before: the server stopped reading mid-upload).
  const chunked = await call(`${base(gw)}/api/rules`, {
    method: 'PUT',
    body: new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(2 * 1024 * 1024).fill(0x61));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal(chunked.body.error?.message, 'request body of 2097152 bytes exceeds the limit of 1048576 bytes');

  // A malformed HTTP request gets a 400 from node and the server keeps serving.
  await new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port: gw.admin!.address().port, path: '/healthz', method: 'GET', headers: { 'content-length': 'abc' } });
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    req.on('error', () => resolve());
    req.end();
  });
  assert.equal((await call(`${base(gw)}/healthz`)).status, 200);
  await waitUntil(
    async () => (await (await fetch(`${base(gw)}/metrics`)).text()).includes('gatehouse_admin_requests_total{status="4xx"}'),
    'admin 4xx counted',
    5000,
  );
});

test('with a token, every route but /healthz needs it; rules apply and rollback work', async (t) => {
  const gw = await startInProcess(t, 'admin: { token: "0123456789abcdef0123" }\n');
  assert.equal((await call(`${base(gw)}/healthz`)).status, 200);
  const denied = await call(`${base(gw)}/api/streams`);
  assert.equal(denied.status, 401);
  assert.equal(denied.body.error?.code, 'GH_ADMIN_UNAUTHORIZED');
  // RFC 9110 11.6.1: a 401 names the scheme it wants (Prometheus, curl and proxies read it).
  const challenge = await fetch(`${base(gw)}/metrics`);
  await challenge.arrayBuffer();
  assert.equal(challenge.status, 401);
  assert.equal(challenge.headers.get('www-authenticate'), 'Bearer realm="gatehouse admin"');
  assert.equal((await call(`${base(gw)}/api/streams`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  const auth = { authorization: 'Bearer 0123456789abcdef0123' };
  assert.equal((await call(`${base(gw)}/metrics`, { headers: auth })).status, 200);
  const applied = await call(`${base(gw)}/api/rules`, {
    method: 'PUT',
    headers: auth,
    body: 'version: 2\nrules:\n  - name: hot\n    sql: "SELECT temp FROM \'fleet/+/engine\' WHERE temp > 100"\n    actions: [{ stream: { name: archive } }]\n',
  });
  assert.equal(applied.status, 200);
  assert.equal(applied.body.state, 'applied');
  const stale = await call(`${base(gw)}/api/rules`, { method: 'PUT', headers: auth, body: 'version: 1\nrules: []\n' });
  assert.equal(stale.body.state, 'rejected');
  assert.equal(stale.body.error?.code, 'GH_RULESET_STALE');
  // The catalogue's message and hint, each once (the message repeated the hint, the site's own).
  assert.equal(stale.body.error?.message, 'rule set version 1 is not newer than the active version 2');
  assert.equal(stale.body.error?.hint, 'raise the version, or force the update (rules apply --force)');
  const back = await call(`${base(gw)}/api/rules/rollback`, { method: 'POST', headers: auth });
  assert.equal(back.body.state, 'rolled-back');
  assert.equal(back.body.version, 1);
});

test('with a token, /healthz stays public for every method: a wrong one gets 405 and Allow, not 401; a token route answers 401 before its method is checked', async (t) => {
  const gw = await startInProcess(t, 'admin: { token: "0123456789abcdef0123" }\n');
  const auth = { authorization: 'Bearer 0123456789abcdef0123' };
  for (const method of ['POST', 'PUT', 'DELETE']) {
    // Without the token and with it: the same answer as without admin.token (it was 401 without the token).
    for (const headers of [{}, auth]) {
      const res = await fetch(`${base(gw)}/healthz`, { method, headers });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 405, `${method} /healthz ${'authorization' in headers ? 'with' : 'without'} the token`);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.equal(body.error.code, 'GH_ADMIN_BAD_REQUEST');
      assert.equal(body.error.message, `method ${method} not allowed on /healthz; allowed: GET, HEAD`);
    }
  }
  const head = await fetch(`${base(gw)}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  // A token route authenticates first (docs/status-page.md#admin-token): without the token, a wrong
  // method or an unknown path gets 401 too, so the answer tells nothing of the routes; with it, 405 or 404.
  const unauthenticated = await call(`${base(gw)}/api/streams`, { method: 'DELETE' });
  assert.equal(unauthenticated.status, 401);
  assert.equal(unauthenticated.body.error?.code, 'GH_ADMIN_UNAUTHORIZED');
  assert.equal((await call(`${base(gw)}/api/nothing-here`)).status, 401);
  const wrongMethod = await fetch(`${base(gw)}/api/streams`, { method: 'DELETE', headers: auth });
  await wrongMethod.arrayBuffer();
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  assert.equal((await call(`${base(gw)}/api/nothing-here`, { headers: auth })).status, 404);
});

test('GET /api/jobs and /api/overview: each scheduled job with its schedule, zone, last run, next run and counts; `gatehouse jobs` prints them', async (t) => {
  // Far-off schedules: the runs are made with runNow (an operator's test run), so the test does not wait for a clock.
  const gw = await startInProcess(
    t,
    [
      'jobs:',
      "  - { name: nightly, schedule: '30 3 * * *', type: compact, timezone: Europe/Paris }",
      "  - { name: ttl, schedule: '0 0 1 1 *', type: sweep }",
      "  - { name: ghost-on, schedule: '0 6 * * *', type: enable-rule, rule: ghost }",
      '',
    ].join('\n'),
  );
  const jobsOf = async (path: string): Promise<JobStatus[]> => {
    const r = await call(`${base(gw)}${path}`);
    assert.equal(r.status, 200, path);
    return r.body.jobs as JobStatus[];
  };
  const fresh = await jobsOf('/api/jobs');
  assert.deepEqual(
    fresh.map((j) => [j.name, j.type, j.schedule, j.timezone, j.rule ?? null, j.running, j.lastRun, j.lastError, j.runs]),
    [
      ['nightly', 'compact', '30 3 * * *', 'Europe/Paris', null, false, null, null, { ok: 0, failed: 0, skipped: 0 }],
      ['ttl', 'sweep', '0 0 1 1 *', null, null, false, null, null, { ok: 0, failed: 0, skipped: 0 }],
      ['ghost-on', 'enable-rule', '0 6 * * *', null, 'ghost', false, null, null, { ok: 0, failed: 0, skipped: 0 }],
    ],
  );
  for (const j of fresh) assert.ok(Date.parse(j.nextRun!) > Date.now(), `${j.name}: next run in the future: ${j.nextRun}`);
  // The zone is the job's: 03:30 in Paris, whatever the machine's zone.
  const paris = new Date(fresh[0]!.nextRun!).toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' });
  assert.equal(paris, '03:30');

  const before = Date.now();
  assert.equal((await gw.control.jobs.runNow('ttl')).result, 'ok');
  // Two ticks at once: the second comes while the first runs, and is skipped.
  const both = await Promise.all([gw.control.jobs.runNow('nightly'), gw.control.jobs.runNow('nightly')]);
  assert.deepEqual(both.map((e) => e.result).sort(), ['ok', 'skipped']);
  assert.equal((await gw.control.jobs.runNow('ghost-on')).result, 'failed');
  const after = Date.now();

  const jobs = await jobsOf('/api/jobs');
  const [nightly, ttl, ghost] = jobs as [JobStatus, JobStatus, JobStatus];
  for (const j of jobs) {
    assert.match(j.lastRun!.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${j.name}: ISO time`);
    assert.ok(Date.parse(j.lastRun!.at) >= before - 1 && Date.parse(j.lastRun!.at) <= after, `${j.name}: at ${j.lastRun!.at}`);
    assert.ok(typeof j.lastRun!.durationMs === 'number' && j.lastRun!.durationMs >= 0, `${j.name}: duration ${j.lastRun!.durationMs}`);
  }
  assert.equal(ttl.lastRun!.result, 'ok');
  assert.equal(ttl.lastRun!.error, undefined);
  assert.deepEqual(ttl.runs, { ok: 1, failed: 0, skipped: 0 });
  assert.equal(nightly.lastRun!.result, 'ok', 'the run ended after the skipped tick: it is the last one');
  assert.deepEqual(nightly.runs, { ok: 1, failed: 0, skipped: 1 });
  assert.equal(ghost.lastRun!.result, 'failed');
  assert.match(ghost.lastRun!.error ?? '', /no rule named 'ghost'/);
  assert.deepEqual(ghost.lastError, { at: ghost.lastRun!.at, message: ghost.lastRun!.error });
  assert.deepEqual(ghost.runs, { ok: 0, failed: 1, skipped: 0 });
  // The same counts as the metric.
  const metrics = await (await fetch(`${base(gw)}/metrics`)).text();
  assert.match(metrics, /gatehouse_job_runs_total\{[^}]*name="nightly"[^}]*result="skipped"[^}]*\} 1/);
  assert.match(metrics, /gatehouse_job_runs_total\{[^}]*name="ghost-on"[^}]*result="failed"[^}]*\} 1/);
  // The overview (the status page's one call) carries the same list.
  assert.deepEqual(await jobsOf('/api/overview'), jobs);
  assert.equal((await call(`${base(gw)}/api/jobs`, { method: 'POST' })).status, 405);

  // The status page has its Jobs section and the module that fills it.
  const html = await (await fetch(`${base(gw)}/`)).text();
  assert.match(html, /<h2 id="h-jobs">Scheduled jobs<\/h2>/);
  assert.match(html, /<tbody id="jobs-body"><\/tbody>/);
  const app = await (await fetch(`${base(gw)}/app.js`)).text();
  assert.match(app, /from '\.\/jobs\.js'/);
  const mod = await fetch(`${base(gw)}/jobs.js`);
  assert.equal(mod.status, 200);
  assert.equal(mod.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(await mod.text(), /export function renderJobs/);

  // `gatehouse jobs`: one line a job.
  const { code, out } = await runCaptured(main, ['jobs', '--admin', base(gw)]);
  assert.equal(code, 0);
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 3, out);
  assert.match(lines[0]!, /^nightly \(compact\) '30 3 \* \* \*' Europe\/Paris: last ok at \S+Z in [\d.]+ ms; next \S+Z; runs 1 ok, 0 failed, 1 skipped$/);
  assert.match(lines[1]!, /^ttl \(sweep\) '0 0 1 1 \*': last ok at /);
  assert.match(
    lines[2]!,
    /^ghost-on \(enable-rule ghost\) '0 6 \* \* \*': last FAILED at \S+Z in [\d.]+ ms: .*no rule named 'ghost'.*; runs 0 ok, 1 failed, 0 skipped$/,
  );
  // Events: one when a job starts failing, none more while it fails the same way at later runs.
  assert.equal((await gw.control.jobs.runNow('ghost-on')).result, 'failed');
  const events = ((await (await fetch(`${base(gw)}/api/events`)).json()) as { events: Array<{ kind: string; message: string }> }).events;
  const jobEvents = events.filter((e) => e.kind === 'job');
  assert.equal(jobEvents.length, 1, JSON.stringify(jobEvents));
  // One code, one place, one fix: the refusal reads once.
  assert.equal(
    jobEvents[0]!.message,
    "job ghost-on failing: GH_JOB_FAILED: rule toggle refused: no rule named 'ghost' in the active rule set (version 1; its rules: archive_all) (at jobs.ghost-on). Fix: fix jobs.ghost-on.rule (or the rule set); the job runs again at its next time",
  );
});

test('GET /api/jobs without jobs: an empty list (and in the overview)', async (t) => {
  const gw = await startInProcess(t);
  assert.deepEqual((await call(`${base(gw)}/api/jobs`)).body, { jobs: [] });
  assert.deepEqual((await call(`${base(gw)}/api/overview`)).body.jobs, []);
});

test('HTTP methods: HEAD on every GET route (monitors, load balancers), 405 names the allowed methods (Allow), an unknown path is named as sent', async (t) => {
  const gw = await startInProcess(t);
  for (const path of ['/healthz', '/metrics', '/api/streams', '/api/overview']) {
    const head = await fetch(`${base(gw)}${path}`, { method: 'HEAD' });
    assert.equal(head.status, 200, `HEAD ${path}`);
    assert.equal(await head.text(), '', `HEAD ${path} has no body`);
  }
  const cases: Array<[string, string, string]> = [
    ['/api/streams', 'DELETE', 'GET, HEAD'],
    ['/healthz', 'POST', 'GET, HEAD'],
    ['/api/rules', 'POST', 'GET, HEAD, PUT'],
    ['/api/rules/rollback', 'GET', 'POST'],
    ['/api/streams/archive/records', 'PUT', 'GET, HEAD, DELETE'], // DELETE: a dead-letter stream's purge
  ];
  for (const [path, method, allow] of cases) {
    const res = await fetch(`${base(gw)}${path}`, { method });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}: Allow`);
    assert.equal(body.error.code, 'GH_ADMIN_BAD_REQUEST');
    assert.match(body.error.message, new RegExp(`method ${method} not allowed on ${path.replaceAll('/', '\\/')}; allowed: ${allow}`));
  }
  // '//api/streams' is a path, not a host: the error names it as sent (it said "no route GET /streams"),
  // in the catalogue's words of GH_ADMIN_NOT_FOUND (it said "no route GET //api/streams" before).
  const doubled = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.admin!.address().port, path: '//api/streams', method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(doubled.status, 404);
  assert.equal((JSON.parse(doubled.body) as { error: { message: string } }).error.message, 'route GET //api/streams not found');
  // The hint names every route, the status page and the records route included.
  const hint = (JSON.parse(doubled.body) as { error: { hint: string } }).error.hint;
  assert.match(hint, /^routes: \/ \(the status page\), \/healthz, /);
  assert.match(hint, /\/api\/streams\/\{name\}\/records\?from=N&limit=N/);
});

// Every socket holds a file descriptor, which the broker and the store (LevelDB's tables) need too:
// before, a flood of idle connections to the admin port was kept until its headers timeout.
test('admin.maxConnections: a connection beyond the bound is closed at accept and counted; the others are served', async (t) => {
  const gw = await startInProcess(t, 'admin:\n  maxConnections: 2\n');
  const port = gw.admin!.address().port;
  const sockets = await Promise.all(
    [0, 1, 2].map(async () => {
      const s = netConnect(port, '127.0.0.1');
      await once(s, 'connect');
      return s;
    }),
  );
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  // whichever the server accepted third is closed at once
  const closed = await withTimeout(
    Promise.race(sockets.map((s, i) => once(s, 'close').then(() => i))),
    10_000,
    'the connection beyond admin.maxConnections closed',
  );
  const kept = sockets.filter((_, i) => i !== closed);
  // the two it kept are served
  for (const s of kept) {
    const answer = new Promise<string>((resolve) => {
      let text = '';
      s.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.match(await answer, /^HTTP\/1\.1 200/);
  }
  for (const s of kept) s.destroy();
  // A request on a connection of its own: the response, or undefined when the server closed the
  // connection at accept (until it has seen the two close, it may still count them).
  const request = (path: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      let text = '';
      s.on('data', (d: Buffer) => {
        text += d.toString();
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve(text || undefined));
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
  let droppedSince = 0;
  const metrics = await waitUntil(async () => (await request('/metrics')) ?? void droppedSince++, 'the metrics once a slot is free');
  assert.match(metrics, new RegExp(`^gatehouse_admin_connections_dropped_total ${1 + droppedSince}$`, 'm'));
});
