// The CLI's admin requests end within a deadline for the whole request (connect to last byte), not
// a socket idle timeout: a real node:http server plays a gateway stuck mid-answer, sending its
// headers and then one byte of body at a time, each well within the deadline. `gatehouse status`
// (in-process, main()) must fail with GH_ADMIN_UNREACHABLE naming the stalled answer, exit 1, soon
// after its deadline. Before, each byte restarted the 15 s idle timeout: the command hung for ever.
// The deadline is made short here (ADMIN_DEADLINE, 15 s for users) so the test does not wait 15 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_DEADLINE } from '../../gateway/cli/admin-client.js';
import { main } from '../../gateway/cli/main.js';
import { runCaptured, type CliRun } from '../helpers/cli-capture.js';

const DEADLINE_MS = 500;
const BYTE_EVERY_MS = 50;
/** A command still running this long after its deadline did not keep it. */
const HUNG_AFTER_MS = 5000;

test('gatehouse status against an answer that trickles one byte at a time fails at its deadline, exit 1', async (t) => {
  const saved = ADMIN_DEADLINE.ms;
  ADMIN_DEADLINE.ms = DEADLINE_MS;
  t.after(() => {
    ADMIN_DEADLINE.ms = saved;
  });
  const trickling = new Set<{ res: ServerResponse; timer: NodeJS.Timeout }>();
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    // A byte every BYTE_EVERY_MS, for ever: the answer never ends (the server is closed after the test).
    const body = '{"health":"ok","padding":"';
    let i = 0;
    const timer = setInterval(() => res.write(body[i++] ?? 'x'), BYTE_EVERY_MS);
    const entry = { res, timer };
    trickling.add(entry);
    res.on('close', () => {
      clearInterval(timer);
      trickling.delete(entry);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const { res, timer } of trickling) {
      clearInterval(timer);
      res.destroy();
    }
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const started = Date.now();
  let bound: NodeJS.Timeout | undefined;
  const run = await Promise.race([
    runCaptured(main, ['status', '--admin', url]),
    new Promise<'hung'>((r) => {
      bound = setTimeout(() => r('hung'), DEADLINE_MS + HUNG_AFTER_MS);
    }),
  ]);
  clearTimeout(bound);
  const elapsed = Date.now() - started;
  assert.notEqual(run, 'hung', `gatehouse status still waited ${HUNG_AFTER_MS} ms after its ${DEADLINE_MS} ms deadline (each byte restarted it)`);
  const r = run as CliRun;
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /GH_ADMIN_UNREACHABLE: cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:\d+: connected, but the answer \(status 200, \d+ bytes of body so far\) did not finish within 0\.5 s/,
  );
  assert.match(r.err, /Fix: the gateway began its answer and stopped sending it: a gateway that is overloaded or stuck/);
  // Bytes did arrive (else this is the "no answer" case, not a stalled answer).
  assert.ok(Number(/status 200, (\d+) bytes/.exec(r.err)?.[1]) > 0, r.err);
  assert.ok(elapsed >= DEADLINE_MS, `failed after ${elapsed} ms, before its deadline`);
});
