// NATS destination stopped and started again while its first connect is still pending, against a
// real nats-server -js (Debian package nats-server). The pending connect is made by a gate: a plain
// TCP listener in front of the server that accepts and holds every connection without a byte (it
// stands in for a server that hangs in its greeting) until the test opens it, then joins each held
// connection to the server. The gate counts the connections the client keeps open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { EventEmitter } from 'node:events';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { createNatsDestination, natsOptionsSchema } from '../../gateway/upstream/destinations/nats.js';
import type { StoredRecord } from '../../gateway/store/types.js';
import type { Destination } from '../../gateway/upstream/types.js';
import { needBinary, testDeps, waitUntil, withTimeout } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');

/**
 * Call with the check for a connection the destination lost its handle on; it passes or throws.
 * Such a connection (the old code's) reconnects for ever and would keep this file's process alive
 * until the runner's --test-timeout (node 20 reports the file only when its process ends): when the
 * check fails, the process is ended a second after the test's failure is reported.
 */
async function checkNoLeak(t: TestContext, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (err) {
    t.after(() => {
      setTimeout(() => process.exit(1), 1000).unref();
    });
    throw err;
  }
}

interface Gate {
  url: string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections the client has open now. */
  open(): number;
  /** Join the held connections (and every later one) to the server. */
  release(): void;
  /** Resolves once `holds()` is true, re-checked at every accept and close. */
  until(holds: () => boolean, what: string, timeoutMs?: number): Promise<void>;
}

async function startGate(t: TestContext, serverPort: number): Promise<Gate> {
  const changed = new EventEmitter();
  const held: Socket[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  let released = false;
  const join = (client: Socket): void => {
    const server = netConnect(serverPort, '127.0.0.1');
    client.pipe(server).pipe(client);
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    server.on('error', () => client.destroy());
  };
  const listener = createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => {
      sockets.delete(client);
      changed.emit('change');
    });
    if (released) join(client);
    else held.push(client);
    changed.emit('change');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  );
  const addr = listener.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `nats://127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => sockets.size,
    release() {
      released = true;
      for (const c of held.splice(0)) if (!c.destroyed) join(c);
    },
    until(holds, what, timeoutMs = 5000) {
      if (holds()) return Promise.resolve();
      let check = (): void => undefined;
      const met = new Promise<void>((resolve) => {
        check = () => {
          if (holds()) resolve();
        };
        changed.on('change', check);
      });
      return withTimeout(met, timeoutMs, what).finally(() => changed.off('change', check));
    },
  };
}

function rec(seq: number): StoredRecord {
  return { stream: 'telemetry', seq, topic: 'fleet/d1/data', receivedAt: seq, payload: Buffer.from(`p${seq}`) };
}

/** A started destination whose first connect waits at the gate in front of a real nats-server. */
async function destinationAtGate(t: TestContext): Promise<{ dest: Destination; gate: Gate }> {
  const peer = await startNats(t);
  const gate = await startGate(t, peer.port);
  const dest: Destination = createNatsDestination(
    natsOptionsSchema.parse({ servers: gate.url, createStream: true, stream: 'GH', reconnectWaitMs: 100, ackTimeoutMs: 2000 }),
    testDeps(),
  );
  t.after(() => dest.stop());
  await dest.start();
  await gate.until(() => gate.accepted() === 1, 'the first connect reached the gate');
  return { dest, gate };
}

test('nats: stop() then start() while the first connect is pending: the late connection is closed, one connection lives on', { skip }, async (t) => {
  const { dest, gate } = await destinationAtGate(t);
  await dest.stop();
  await dest.start();
  await gate.until(() => gate.accepted() === 2, 'the second start connected to the gate');
  // The server answers both now: the first start's connect resolves after its stop().
  gate.release();
  await waitUntil(
    async () => {
      try {
        return (await dest.send([rec(1)], AbortSignal.timeout(5000))).every((r) => r.ok);
      } catch {
        return false; // retryable: not connected yet
      }
    },
    'a send through the second start',
    10_000,
    50,
  );
  // The first start's connection is closed once it is made; before, it lived on beside the second.
  await checkNoLeak(t, () => gate.until(() => gate.open() === 1, 'only the connection of the second start is open', 3000));
  assert.equal(gate.accepted(), 2, 'no attempt beyond the two starts');
  await dest.stop();
  await checkNoLeak(t, () => gate.until(() => gate.open() === 0, 'no connection is open after stop()', 3000));
});

test('nats: stop() while the first connect hangs: the connect that answers later is closed at once', { skip }, async (t) => {
  const { dest, gate } = await destinationAtGate(t);
  await dest.stop();
  gate.release();
  await checkNoLeak(t, () => gate.until(() => gate.open() === 0, 'the late connection is closed', 3000));
  assert.equal(gate.accepted(), 1, 'no retry after stop()');
});
