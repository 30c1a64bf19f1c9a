// The commands that talk to the gateway's admin API (status, streams, jobs, sources, rules list),
// run as a user runs them (the real CLI, a child process), pointed with --admin at another HTTP
// service (a real node:http server: a web page, a JSON API of something else): each says that
// another service answers there and how to point at the admin port (GH_ADMIN_UNREACHABLE, exit 1).
// Before, they failed reading the answer with a bare TypeError ('Cannot read properties of
// undefined', 'body.streams is not iterable'): no code, no cause, no fix. An address that accepts
// the connection and never answers is told from one nothing accepts at, each with its own fix; a
// real gateway whose admin API is full (admin.maxConnections) hangs up, and the fix names that too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { cliCommand, startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { silentTcpServer, tempDir } from '../helpers/index.js';

/** An HTTP server answering every request 200 with `body` of `contentType`; its URL. */
async function otherService(t: TestContext, contentType: string, body: string): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function gatehouse(argv: string[]): Promise<{ code: number; err: string }> {
  const { cmd, args } = cliCommand();
  return new Promise((resolve) => {
    execFile(cmd, [...args, ...argv], { timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, err: stderr });
    });
  });
}

const COMMANDS = [['status'], ['streams'], ['jobs'], ['sources'], ['rules', 'list']];
const FIX = /\. Fix: another service answers at that address: point at the gateway's admin port with --admin http:\/\/HOST:PORT/;

test('admin commands pointed at a web page say another service answers there, exit 1', async (t) => {
  const url = await otherService(t, 'text/html', '<html><body>router login</body></html>');
  const runs = await Promise.all(COMMANDS.map((c) => gatehouse([...c, '--admin', url])));
  runs.forEach((r, i) => {
    const what = `gatehouse ${COMMANDS[i]!.join(' ')}: ${r.err}`;
    assert.equal(r.code, 1, what);
    assert.match(
      r.err,
      /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+: GET \/api\/\w+ answered 200 with text\/html, not the admin API's answer: "<html><body>router login/,
      what,
    );
    assert.match(r.err, FIX, what);
    assert.doesNotMatch(r.err, /TypeError|Cannot read|not iterable/, what);
  });
});

test('admin commands pointed at another JSON API say which field the answer lacks, exit 1', async (t) => {
  const url = await otherService(t, 'application/json', '{"name":"node_exporter","items":[]}');
  const runs = await Promise.all(COMMANDS.map((c) => gatehouse([...c, '--admin', url])));
  const fields = ['health', 'streams', 'jobs', 'sources', 'rules'];
  runs.forEach((r, i) => {
    const what = `gatehouse ${COMMANDS[i]!.join(' ')}: ${r.err}`;
    assert.equal(r.code, 1, what);
    assert.match(r.err, new RegExp(`GH_ADMIN_UNREACHABLE: .*answered 200 with JSON without '${fields[i]}', not the admin API's answer`), what);
    assert.match(r.err, FIX, what);
    assert.doesNotMatch(r.err, /TypeError|Cannot read|not iterable/, what);
  });
});

test('an admin command whose connection is accepted but never answered says so after 15 s (not "start the gateway"), exit 1', async (t) => {
  // A real TCP server that accepts and stays silent: a stuck gateway, or a port of a service that
  // waits for its client to speak first.
  const { port } = await silentTcpServer(t);
  const r = await gatehouse(['status', '--admin', `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+: connected, but no answer within 15 s\. Fix: something listens there but does not answer: a gateway that is overloaded or stuck/,
  );
  assert.doesNotMatch(r.err, /start the gateway/);
});

test('an admin command refused by a gateway at admin.maxConnections names that limit as a cause, exit 1', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\nadmin:\n  maxConnections: 1\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  // The one connection the admin API takes: a request whose headers are not finished (held up to
  // the 10 s headersTimeout; a silent socket would be closed at the first-byte timeout).
  const port = Number(new URL(gw.adminUrl).port);
  const held = createConnection(port, '127.0.0.1');
  held.on('error', () => undefined);
  t.after(() => held.destroy());
  await once(held, 'connect');
  held.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const r = await gatehouse(['status', '--admin', gw.adminUrl]);
  assert.ok(!held.closed, 'the held connection was still open while the command ran (else the test proves nothing)');
  assert.equal(r.code, 1, r.err);
  // Node's server closes a connection over maxConnections as it accepts it: a FIN before the
  // request was sent reads as "socket hang up", one after it (the request unread, so the kernel
  // resets) as "read ECONNRESET", as the machine's timing falls (both seen in CI). The same refusal.
  assert.match(r.err, /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+: (socket hang up|read ECONNRESET)/);
  assert.match(r.err, /or the admin API already holds admin\.maxConnections connections \(default 64/, r.err);
});
