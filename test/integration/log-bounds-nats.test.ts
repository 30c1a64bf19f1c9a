// Log lines per retry of an upstream that is down, bounded: a nats-server down for a night made a
// line per connect attempt ('NATS connection failed; retrying': ~4 a minute at the default
// reconnectWaitMs, ~2,900 in 12 hours), and neither the connect nor the exporter said when the
// outage ended, how long it lasted or how many attempts it took. Now: the first failure at once,
// one line a minute per reason with `suppressed`, and one line when it ends (downMs, attempts or
// failedSends). Real nats-server (Debian package nats-server) behind a TCP gate the test counts
// connections at: while shut, it accepts and closes each one (the connect fails as against a
// server gone), while open it joins them to the server. The clock of the rate is a counter the
// test moves, so no test waits a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';
import { capturedLogger } from '../helpers/industrial.js';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';

const skip = needBinary('nats-server', 'nats-server');

interface Gate {
  url: string;
  accepted(): number;
  shut: boolean;
}

/** A TCP gate in front of the server at `serverPort`: shut, it closes what it accepts; open, it joins it to the server. */
async function startGate(t: TestContext, serverPort: number): Promise<Gate> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const gate: Gate = { url: '', accepted: () => accepted, shut: true };
  const listener = createServer((client) => {
    accepted++;
    client.on('error', () => undefined);
    if (gate.shut) return void client.destroy();
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const server = netConnect(serverPort, '127.0.0.1');
    client.pipe(server).pipe(client);
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    server.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const addr = listener.address();
  gate.url = `nats://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  );
  return gate;
}

const named = (lines: { msg: string }[], msg: string): Record<string, unknown>[] => lines.filter((l) => l.msg === msg) as unknown as Record<string, unknown>[];

test('NATS down at start: 8 failed connects make one line, a minute later one with the count; the connect says how long and how many; a server killed under a connection: one line down, one up with its attempts', {
  skip,
}, async (t) => {
  const nats = await startNats(t);
  const gate = await startGate(t, nats.port);
  const clock = { t: 1_000_000 };
  const { logger, lines } = capturedLogger('info');
  const options = natsOptionsSchema.parse({ servers: gate.url, stream: 'LB', subject: 'lb.{stream}', reconnectWaitMs: 20, createStream: true });
  const dest = createNatsDestination(options, { logger, registry: new Registry(), monotonic: () => clock.t, installationId: () => Promise.resolve('i') });
  t.after(() => dest.stop());
  await dest.start();

  await waitUntil(() => gate.accepted() >= 8, 'eight connect attempts', 20_000);
  const failed = 'NATS connection failed; retrying';
  assert.equal(named(lines, failed).length, 1, `one line for ${gate.accepted()} failed connects: ${JSON.stringify(named(lines, failed))}`);
  // A minute on: the next attempt's line carries the count of those left out.
  clock.t += 61_000;
  const seen = gate.accepted();
  await waitUntil(() => named(lines, failed).length === 2, 'the reminder a minute later', 30_000);
  const reminder = named(lines, failed)[1]!;
  // (Attempts go one at a time: when `seen` was read, one the gate took may not have failed yet, and
  // the reminder may be that one's line: the first line and the reminder are not suppressed.)
  assert.ok(Number(reminder.suppressed) >= seen - 2, `suppressed ${String(reminder.suppressed)} of ${seen} attempts`);
  assert.ok(Number(reminder.attempts) >= seen, 'the reminder counts every attempt');

  gate.shut = false;
  const up = await waitUntil(() => named(lines, 'NATS connected')[0], 'connected', 30_000);
  const attempts = gate.accepted() - 1;
  assert.equal(up.attempts, attempts, 'the connect counts the failed attempts before it');
  assert.ok(Number(up.downMs) >= 61_000, `downMs ${String(up.downMs)}`);

  // The server killed under the connection: the client's own reconnects, one line each way.
  clock.t += 61_000;
  const before = gate.accepted();
  await nats.down();
  await waitUntil(() => gate.accepted() >= before + 6, 'six reconnect attempts at a server down', 30_000);
  clock.t += 5_000;
  await nats.up();
  const back = await waitUntil(() => named(lines, 'NATS reconnected')[0], 'reconnected', 30_000);
  assert.equal(named(lines, 'NATS disconnected').length, 1, 'one line for the disconnect');
  assert.ok(Number(back.attempts) >= 6, `reconnect attempts counted: ${String(back.attempts)}`);
  assert.ok(Number(back.downMs) >= 5_000, `downMs ${String(back.downMs)}`);
  assert.equal(named(lines, failed).length, 2, 'no more connect failures logged');
});

test('an exporter whose NATS is down: one export error, a minute later one with the count, and "export resumed" with how long and how many failed sends', {
  skip,
}, async (t) => {
  const nats = await startNats(t);
  await nats.down();
  const clock = { t: 5_000_000 };
  const { logger, lines } = capturedLogger('info');
  const registry = new Registry();
  const streams = await openStreams(t);
  await append(streams, 5);
  const exporter = await startExporter(
    t,
    streams,
    { type: 'nats', servers: nats.url, stream: 'LB2', subject: 'lb2.{stream}', reconnectWaitMs: 20, createStream: true },
    { logger, registry, monotonic: () => clock.t },
  );
  await waitUntil(() => exporter.status().retries >= 5 * 20, 'twenty failed sends', 20_000);
  assert.equal(named(lines, 'export error').length, 1, `one line for ${exporter.status().retries / 5} failed sends`);
  clock.t += 61_000;
  await waitUntil(() => named(lines, 'export error').length === 2, 'the reminder a minute later', 20_000);
  assert.ok(Number(named(lines, 'export error')[1]!.suppressed) >= 19, 'the reminder counts the sends left out');
  assert.equal(named(lines, 'export resumed').length, 0, 'not resumed while down');

  await nats.up();
  await waitUntil(() => exporter.status().exportedRecords === 5, 'the five records exported', 30_000);
  const resumed = named(lines, 'export resumed');
  assert.equal(resumed.length, 1, 'one line when the outage ends');
  assert.ok(Number(resumed[0]!.failedSends) >= 20, `failedSends ${String(resumed[0]!.failedSends)}`);
  assert.ok(Number(resumed[0]!.downMs) >= 61_000, `downMs ${String(resumed[0]!.downMs)}`);
});
