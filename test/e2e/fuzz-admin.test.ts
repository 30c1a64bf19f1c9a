// Fuzz the admin API (gateway/admin/) of a running gateway (in-process) through real HTTP, for a
// bounded time with a deterministic, printed seed (FUZZ_SEED, FUZZ_MS override):
//
// - raw requests on a socket (what fetch would not send): request targets (absolute forms, '//',
//   percent-encoding, unicode, very long), methods, headers (Host, Origin, Authorization, Content-Type,
//   Content-Length against the body, Transfer-Encoding), query strings of every route, bodies (rule
//   sets mutated as bytes and as JSON); mutated bytes of real requests;
// - the same over HTTPS (admin.tls) beside bytes that are no TLS at all (http/plain-http-sniff.ts).
//
// Meanwhile a real device publishes QoS 1. Asserts: no crash (the test process is the gateway), no
// answer 500 or 'admin API request failed' (an error that is not a GatehouseError), every error
// body carries a GH_ code of the catalogue, no hang (a fresh request is answered; the HTTPS port
// answers a plain request 400 and a TLS one), every PUBACKed device message in the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { ERROR_CATALOGUE } from '../../core/error-catalogue.js';
import { tempDir } from '../helpers/index.js';
import { opensslSelfSigned } from '../helpers/tls-fixture.js';
import { capturingLogger, fuzzer, fuzzSettings, startWitness, storedWitnessIds } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261207, 4000);
const f = fuzzer(SEED);
const { rnd, int, pick } = f;
const TOKEN = 'fuzz-admin-token-0123456789';

const PATHS = [
  '/',
  '/healthz',
  '/metrics',
  '/api/overview',
  '/api/streams',
  '/api/rules',
  '/api/rules/rollback',
  '/api/clients',
  '/api/links',
  '/api/sources',
  '/api/jobs',
  '/api/events',
  '/api/dead-letters',
  '/api/streams/archive/records',
  '/api/streams/archive-dlq/records',
  '/api/streams/archive-dlq/redrive',
  '/api/streams/archive-dlq/dead-letters',
  '/api/streams/archive',
  '/api/streams/%ZZ/records',
  '/api/streams/%E2%82/records',
  '/api/streams/%00/records',
  '//api/streams',
  '/api/streams/../rules',
  '/index.html',
  '/app.js',
  'http://admin.local/api/streams',
  'http://[::1/x',
  'http://a:b:c/',
  '*',
  'x',
  `/${'a'.repeat(5000)}`,
  '/api/streams/\u00e9/records',
];
const PARAMS = ['from', 'limit', 'maxBytes', 'through', 'records', 'force', 'probation', 'max', 'status', 'after', 'dry'];
const VALUES = ['1', '0', '-1', '1e3', '9007199254740993', 'abc', '', '%', '%ZZ', '1.5', ' 1', '0x10', '999999999999999999999'];
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'BREW', 'get'];
const RULES = JSON.stringify({
  version: 2,
  rules: [{ name: 'witness', sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: 'archive' } }] }],
});

function query(): string {
  if (rnd() < 0.3) return '';
  const parts = Array.from({ length: 1 + int(4) }, () => `${pick(PARAMS)}=${pick(VALUES)}`);
  return `?${parts.join('&')}${rnd() < 0.1 ? '&&=&' : ''}`;
}

function body(): Buffer {
  const r = rnd();
  if (r < 0.2) return Buffer.alloc(0);
  if (r < 0.5) return f.mutate(Buffer.from(RULES));
  if (r < 0.8) {
    // keep the witness rule whatever else changes: only the rule set's other fields are damaged
    const doc = f.mutateValue(JSON.parse(RULES)) as Record<string, unknown>;
    return Buffer.from(JSON.stringify(doc) ?? 'null');
  }
  return f.randomBytes(int(300));
}

/** A raw HTTP/1.1 request, well-formed or nearly. */
function rawRequest(port: number, authorized: boolean): Buffer {
  const method = pick(METHODS);
  const target = `${pick(PATHS)}${query()}`;
  const b = method === 'PUT' || method === 'POST' || rnd() < 0.1 ? body() : Buffer.alloc(0);
  const headers: string[] = [`Host: ${pick([`127.0.0.1:${port}`, `localhost:${port}`, 'evil.example', '', `[::1]:${port}`])}`];
  if (authorized) headers.push(`Authorization: ${pick([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, 'Bearer x', 'Basic eDp5', `bearer ${TOKEN}`])}`);
  if (rnd() < 0.2) headers.push(`Origin: ${pick(['http://evil.example', `http://127.0.0.1:${port}`, 'null', ''])}`);
  if (rnd() < 0.3) headers.push(`Content-Type: ${pick(['application/json', 'application/yaml', 'text/yaml', 'text/plain; charset=latin1', ''])}`);
  const chunked = rnd() < 0.1;
  if (chunked) headers.push('Transfer-Encoding: chunked');
  else if (b.length > 0 || rnd() < 0.1) headers.push(`Content-Length: ${rnd() < 0.9 ? b.length : pick([0, b.length + 5, -1])}`);
  if (rnd() < 0.1) headers.push(`X-${'h'.repeat(int(100))}: ${'v'.repeat(int(2000))}`);
  headers.push('Connection: close');
  const bodyBytes = chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')]) : b;
  const req = Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`), bodyBytes]);
  return rnd() < 0.15 ? f.mutate(req) : req;
}

interface Answer {
  status: number;
  head: string;
  body: string;
}

/** Send bytes on a fresh socket (TCP or TLS); read until the server closes or ms pass. */
async function send(port: number, bytes: Buffer, tls: boolean, ms = 3000): Promise<Answer | undefined> {
  const s = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : netConnect(port, '127.0.0.1');
  s.on('error', () => undefined);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const closed = once(s, 'close').catch(() => undefined);
  await Promise.race([once(s, tls ? 'secureConnect' : 'connect'), closed]);
  s.write(bytes);
  await Promise.race([closed, new Promise((r) => setTimeout(r, ms).unref())]);
  s.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  if (!m) return undefined;
  const at = text.indexOf('\r\n\r\n');
  return { status: Number(m[1]), head: text.slice(0, at), body: at < 0 ? '' : text.slice(at + 4) };
}

/** The error codes in an error body (a chunked body's JSON sits between its size lines). */
function errorCode(a: Answer): string | undefined {
  const m = /"error":\{"code":"([A-Z0-9_]+)"/.exec(a.body);
  return m?.[1];
}

test('fuzz admin API: raw HTTP and HTTPS requests, plain bytes on the HTTPS port; no crash, no 500, catalogue codes, no hang', {
  timeout: DURATION_MS + 120_000,
}, async (t) => {
  console.log(`# fuzz-admin seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const dir = await tempDir(t, 'gatehouse-fuzz-admin-');
  const { cert, key } = opensslSelfSigned(dir);
  const { logger, lines } = capturingLogger();
  const start = async (name: string, admin: string) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `gatewayId: fza\ndataDir: ${JSON.stringify(join(dir, name))}\nexporters: []\nadmin: ${admin}\n` +
        `rules: { version: 1, rules: [{ name: witness, sql: "SELECT * FROM 'witness/#'", actions: [{ stream: { name: archive } }] }] }\n`,
    );
    const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
    const gw = await startGateway(config, { logger, registry: createMetricsRegistry('test', name), version: 'test' });
    t.after(() => gw.stop());
    return gw;
  };
  const plain = await start('plain', `{ token: ${TOKEN} }`);
  const tls = await start('tls', `{ token: ${TOKEN}, tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} } }`);
  const ports = { plain: plain.admin!.address().port, tls: tls.admin!.address().port };

  const port = plain.broker.addresses()[0]!.port;
  const witness = await startWitness(t, `mqtt://127.0.0.1:${port}`);

  const codes = new Set(Object.keys(ERROR_CATALOGUE));
  const unexpected: string[] = [];
  const counts = { http: 0, https: 0, notTls: 0, answered: 0 };
  const statuses = new Map<number, number>();
  const deadline = Date.now() + DURATION_MS;
  /** [from, to) ranges of device ids acknowledged while a fuzzed rule set may have been in force. */
  const excused: Array<[number, number]> = [];
  while (Date.now() < deadline && unexpected.length === 0) {
    const fromId = witness.acked.length;
    let applied = false;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const r = rnd();
        const overTls = r >= 0.7;
        const bytes =
          r >= 0.9 ? f.mutate(Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)) : rawRequest(overTls ? ports.tls : ports.plain, rnd() < 0.8);
        if (r >= 0.9) counts.notTls++;
        else if (overTls) counts.https++;
        else counts.http++;
        // bytes that are no TLS to the HTTPS port: answered 400 (or closed when they are a handshake's first byte)
        const a = await send(r >= 0.9 ? ports.tls : overTls ? ports.tls : ports.plain, bytes, overTls && r < 0.9, 1500);
        if (!a) return;
        counts.answered++;
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (a.status === 200 && /^PUT \S*\/api\/rules/.test(bytes.toString('latin1'))) applied = true;
        const code = errorCode(a);
        const what = `${a.status} ${code ?? ''} for ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}: ${a.body.slice(0, 300)}`;
        if (a.status >= 500 && !(a.status === 503 && code === undefined)) unexpected.push(what);
        if (a.status >= 400 && a.head.includes('application/json') && code !== undefined && !codes.has(code))
          unexpected.push(`code not in the catalogue: ${what}`);
      }),
    );
    if (applied) {
      // a fuzzed rule set was applied (one that still parses: the witness rule may be gone or
      // changed): put it back on both gateways and excuse the ids acknowledged meanwhile
      for (const p of [ports.plain]) {
        const restore = await fetch(`http://127.0.0.1:${p}/api/rules?force=1`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ ...JSON.parse(RULES), version: 1_000_000 + counts.http }),
        });
        assert.ok(restore.ok, `restoring the witness rule: ${restore.status} ${await restore.text()}`);
      }
      excused.push([fromId, witness.acked.length + 1]);
    }
    const failed = lines.filter((l) => l.msg === 'admin API request failed');
    if (failed.length > 0)
      unexpected.push(`logged: ${String((failed[0]!.err as { message?: string })?.message)} ${JSON.stringify(failed[0]!.err).slice(0, 500)}`);
  }
  await witness.stop();
  console.log(
    `# fuzz-admin requests: ${JSON.stringify(counts)}; statuses ${JSON.stringify(Object.fromEntries(statuses))}; device PUBACKed ${witness.acked.length}`,
  );
  assert.deepEqual(unexpected.slice(0, 3), [], 'no 500, no error outside the catalogue');

  // No hang: both ports still answer.
  const health = await fetch(`http://127.0.0.1:${ports.plain}/api/streams`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(health.status, 200);
  await health.arrayBuffer();
  const overTls = await send(ports.tls, Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), true);
  assert.equal(overTls?.status, 200, 'HTTPS answers after the fuzz');
  const notTls = await send(ports.tls, Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`), false);
  assert.equal(notTls?.status, 400, 'plain HTTP on the HTTPS port is answered 400 after the fuzz');

  // No loss: every PUBACKed device message is in the archive stream (but while a fuzzed rule set
  // that parsed was in force: without the witness rule, a publish is acknowledged with nothing to store).
  const stored = await storedWitnessIds(plain.streams);
  const missing = witness.acked.filter((id) => !stored.has(id) && !excused.some(([a, b]) => id >= a && id < b));
  if (excused.length > 0) t.diagnostic(`${excused.length} fuzzed rule sets were applied; the ids acknowledged meanwhile are excused`);
  assert.equal(missing.length, 0, `PUBACKed but not stored: ${missing.slice(0, 10).join(', ')}`);
  assert.ok(witness.acked.length > 0);
});
