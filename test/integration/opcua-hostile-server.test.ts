// An OPC UA "server" that answers the client's Hello with a good Acknowledge followed, in the same
// TCP segment, by a chunk header whose size no buffer takes. node-opcua's transport threw that in
// its socket 'data' handler (an uncaught exception: the gateway stopped); the source must fail
// that connect with an error and retry (found by fuzzing: fuzz-opcua.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { sourceDeps, storeIntake } from '../helpers/industrial.js';

/** ACK (OPC UA Part 6, 7.1.2.4): protocol version 0, 64 KiB buffers, no message size or chunk count limit. */
function acknowledge(): Buffer {
  const b = Buffer.alloc(28);
  b.write('ACKF', 0, 'latin1');
  b.writeUInt32LE(28, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(65536, 12);
  b.writeUInt32LE(65536, 16);
  b.writeUInt32LE(0, 20);
  b.writeUInt32LE(0, 24);
  return b;
}

test('a server whose Acknowledge is followed by a chunk of an impossible size: the connect fails with an error, the process goes on', async (t) => {
  const held = new Set<Socket>();
  let hellos = 0;
  const server = createServer((s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => {
      hellos++;
      const tooBig = Buffer.alloc(8);
      tooBig.write('MSGF', 0, 'latin1');
      tooBig.writeUInt32LE(0xffffffff, 4);
      s.write(Buffer.concat([acknowledge(), tooBig]));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const dataDir = await tempDir(t, 'gatehouse-opcua-hostile-');
  const endpoint = `opc.tcp://127.0.0.1:${(server.address() as { port: number }).port}/UA/Test`;
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint,
      pkiDir: join(dataDir, 'pki'),
      connectTimeoutMs: 2000,
      backoff: { initialMs: 10, maxMs: 20 },
      subscriptions: [{ items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir }),
  );
  await source.start(await storeIntake(t));
  t.after(() => source.stop());
  await waitUntil(() => hellos >= 3, 'three connects, each answered so', 20_000);
  const lastError = await waitUntil(() => (source.status().details as { lastError: string | null }).lastError, 'a connect error');
  assert.match(lastError, /^GH_SOURCE_CONNECT: /);
  assert.equal(source.status().state, 'retrying');
});
