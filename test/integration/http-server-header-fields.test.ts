// The header-field cap of the gateway's HTTP servers (gateway/http/server.ts: the admin API and
// http sources). Node's 16 KiB maxHeaderSize counts only names' and values' bytes: 4,000 fields of
// 8 bytes on the wire (32 KiB, 16,000 bytes counted) passed it, and node kept ~1,000 of them per
// request held. More than MAX_HEADER_FIELDS (100) fields is now 431 and closed, exactly 100 pass.
// Real servers (an http source over a real store, the admin API), raw sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { createAdminServer } from '../../gateway/admin/server.js';
import { MAX_HEADER_FIELDS } from '../../gateway/http/server.js';
import { emptyAdminSource } from '../helpers/admin-source.js';
import { httpRig } from '../helpers/http-post.js';
import { testDeps } from '../helpers/index.js';

/** Send `head` (its request line and first fields), `extra` more fields of 8 bytes ("000: v\r\n") and `body`, and read the status line. */
async function send(port: number, head: string, extra: number, body = ''): Promise<string> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', () => undefined);
  const fields = Array.from({ length: extra }, (_, i) => `${String(i % 1000).padStart(3, '0')}: v\r\n`).join('');
  s.write(`${head}${fields}\r\n${body}`);
  await once(s, 'close');
  return Buffer.concat(chunks).toString().split('\r\n')[0] ?? '';
}

test('http source: more than 100 header fields (4,000 of 8 bytes: 32 KiB under the 16 KiB cap as node counts it) is 431, nothing submitted; 100 pass', async (t) => {
  const { port, intake } = await httpRig(t);
  // Host, Content-Length, Connection: 3 fields
  const head = 'POST /topics/h HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n';
  assert.equal(MAX_HEADER_FIELDS, 100);
  const sendWithBody = (extra: number): Promise<string> => send(port, head, extra, 'x');
  assert.equal(await sendWithBody(4000), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.equal(await sendWithBody(98), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.equal(intake.messages.length, 0);
  assert.equal(await sendWithBody(97), 'HTTP/1.1 200 OK');
  assert.equal(intake.messages.length, 1);
});

test('admin API: more than 100 header fields is 431; 100 pass', async (t) => {
  const admin = createAdminServer(
    { host: '127.0.0.1', port: 0, maxBodyBytes: 1024 },
    { logger: testDeps().logger, registry: new Registry(), source: emptyAdminSource },
  );
  await admin.start();
  t.after(() => admin.stop());
  const port = admin.address().port;
  const head = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n';
  assert.equal(await send(port, head, 4000), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.equal(await send(port, head, 99), 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.match(await send(port, head, 98), /^HTTP\/1\.1 200 /);
});
