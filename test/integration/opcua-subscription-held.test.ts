// A server that opens the session, then holds the subscription's creation (or its monitored items'):
// the source was stuck there for node-opcua's transaction timeout (15 s, fuzz-opcua seed 7), not
// bounded by connectTimeoutMs, which covered the connect and the session's creation only. Now each
// request of a subscription's setup is bounded by connectTimeoutMs too: the source gives up, says
// which step, and connects again. The server is node-opcua's (test/helpers/opcua-server.ts) behind
// a TCP proxy that, once, stops passing the client's messages on from the request named (its
// binary encoding id in the MSG chunk, security None): what a server holding that request does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { capturedLogger, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

/** Binary encoding ids (ns=0, four-byte node id form) of the requests a proxy can hold. */
const REQUESTS = { CreateSubscriptionRequest: 787, CreateMonitoredItemsRequest: 751 } as const;

/** The request type of a MSG chunk (security None: its 24-byte header, then the type's node id), or undefined. */
function requestType(chunk: Buffer): number | undefined {
  if (chunk.length < 28 || chunk.toString('latin1', 0, 3) !== 'MSG' || chunk[24] !== 0x01 || chunk[25] !== 0x00) return undefined;
  return chunk.readUInt16LE(26);
}

for (const [request, typeId] of Object.entries(REQUESTS)) {
  test(`a server that holds the ${request}: the source gives up within connectTimeoutMs, says so, and connects again`, { timeout: 60_000 }, async (t) => {
    const peer = await opcuaPeer(t);
    const open = new Set<Socket>();
    let holdOnce = true;
    let heldAt: number | undefined;
    let heldAtWall = 0;
    let connections = 0;
    const proxy = createServer((inbound) => {
      connections++;
      open.add(inbound);
      inbound.on('close', () => open.delete(inbound));
      inbound.on('error', () => undefined);
      const out = netConnect(peer.port, '127.0.0.1');
      out.on('error', () => inbound.destroy());
      out.on('close', () => inbound.destroy());
      inbound.on('close', () => out.destroy());
      out.on('data', (d: Buffer) => inbound.write(d));
      let held = false;
      let pending = Buffer.alloc(0);
      inbound.on('data', (d: Buffer) => {
        if (held) return;
        pending = Buffer.concat([pending, d]);
        // Whole chunks only (8-byte header: type, chunk type, 32-bit LE size).
        while (pending.length >= 8 && pending.length >= pending.readUInt32LE(4)) {
          const size = pending.readUInt32LE(4);
          const chunk = pending.subarray(0, size);
          pending = pending.subarray(size);
          if (holdOnce && requestType(chunk) === typeId) {
            holdOnce = false;
            held = true;
            heldAt = performance.now();
            heldAtWall = Date.now();
            return; // read on, pass nothing more: the server never sees it
          }
          out.write(chunk);
        }
      });
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    t.after(() => {
      for (const s of open) s.destroy();
      proxy.close();
    });
    const dataDir = await tempDir(t, 'gatehouse-opcua-held-');
    const intake = await storeIntake(t);
    const { logger, lines } = capturedLogger();
    const source = await opcuaKind.create(
      opcuaOptionsSchema.parse({
        type: 'opcua',
        name: 'ua',
        endpoint: `opc.tcp://127.0.0.1:${(proxy.address() as { port: number }).port}/UA/Test`,
        pkiDir: join(dataDir, 'pki'),
        connectTimeoutMs: 1000,
        backoff: { initialMs: 10, maxMs: 50 },
        subscriptions: [{ name: 'fast', publishingIntervalMs: 50, items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
      }),
      sourceDeps(t, { dataDir, logger }),
    );
    await source.start(intake);
    t.after(() => source.stop());
    await waitUntil(() => heldAt !== undefined, `the ${request} held`, 20_000);
    await waitUntil(async () => (await intake.records()).length > 0, 'a value once connected again', 30_000).catch((e: Error) =>
      assert.fail(`${e.message}: ${JSON.stringify(lines)} ${JSON.stringify(source.status())}`),
    );
    const stuckMs = performance.now() - heldAt!;
    // Before: values 19 s after the hold (node-opcua's 15 s transaction timeout, then the reconnect).
    // Now: connectTimeoutMs (1 s), the close of the held session (bounded at 2 s), a new connect.
    assert.ok(stuckMs < 8_000, `values ${Math.round(stuckMs)} ms after the hold: the source waited past connectTimeoutMs (1,000 ms)`);
    assert.ok(connections >= 2, 'a new connection');
    const failed = lines.filter((l) => l.msg === 'opcua connect failed, retrying with backoff') as unknown as Array<{ err: string; time: number }>;
    assert.equal(failed.length, 1, JSON.stringify(lines));
    assert.ok(failed[0]!.time - heldAtWall < 2_500, `given up ${failed[0]!.time - heldAtWall} ms after the hold`);
    assert.match(failed[0]!.err, /^GH_SOURCE_CONNECT: /);
    assert.match(failed[0]!.err, /subscription 'fast' did not finish within 1000 ms/);
  });
}
