// A request target that is no URL (found by test/e2e/fuzz-admin.test.ts): node's HTTP parser lets
// 'http://a:b:c/' through, `new URL` threw, and the admin API answered 500 GH_INTERNAL with an
// error line in the log for each such request (a scanner's loop filled the journal at error
// level). Now 400 GH_ADMIN_BAD_REQUEST, nothing logged as an error. Real admin server, raw socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { createAdminServer } from '../../gateway/admin/server.js';
import { emptyAdminSource } from '../helpers/admin-source.js';
import { capturingLogger } from '../helpers/fuzz.js';

test("a request target that is no URL ('http://a:b:c/', 'http://[::1/x') is answered 400 GH_ADMIN_BAD_REQUEST, not 500", async (t) => {
  const { logger, lines } = capturingLogger();
  const admin = createAdminServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024 }, { logger, registry: new Registry(), source: emptyAdminSource });
  await admin.start();
  t.after(() => admin.stop());
  for (const target of ['http://a:b:c/', 'http://[::1/x']) {
    const s = connect(admin.address().port, '127.0.0.1');
    await once(s, 'connect');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await once(s, 'close');
    const text = Buffer.concat(chunks).toString();
    assert.match(text, /^HTTP\/1\.1 400 /, text);
    assert.match(text, /"code":"GH_ADMIN_BAD_REQUEST"/, text);
  }
  assert.deepEqual(
    lines.filter((l) => Number(l.level) >= 50).map((l) => l.msg),
    [],
  );
});
