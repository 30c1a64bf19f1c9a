// Fuzz the OPC UA source (gateway/pipeline/sources/opcua/, node-opcua's parsers in our process)
// with a server that misbehaves, for a bounded time with a deterministic, printed seed (FUZZ_SEED,
// FUZZ_MS override). The server's side of a real session (node-opcua's server: ACK, the secure
// channel's OPN, the session's and the subscription's MSG answers) is recorded once through a TCP
// proxy; then a fake server answers each message of the source's client with the next recorded
// one, damaged (bytes mutated, its size field changed, cut), or sends garbage, closes mid-handshake,
// or stalls. The source reconnects by itself after each failure.
//
// Asserts: no crash (the test process is the gateway), no hang (the source keeps connecting again:
// each connection of the fuzz ends, by the client or by the server's round), every connection
// closed once the source stops, its lastError a catalogue code, nothing logged as an error, and
// once the real server is behind the proxy again the source's values come through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { capturedLogger, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';
import { fuzzer, fuzzSettings, heapAfterGc } from '../helpers/fuzz.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261210, 3000);

/** OPC UA TCP messages (8-byte header: type, chunk type, 32-bit LE size) in a byte stream; a partial tail is left out. */
function splitMessages(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32LE(at + 4);
    if (size < 8 || at + size > buf.length) break;
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

test(`fuzz OPC UA source: a server answering damaged, cut or stalled handshakes and session messages (seed ${SEED})`, {
  timeout: DURATION_MS + 180_000,
}, async (t) => {
  console.log(`# fuzz-opcua seed ${SEED} (FUZZ_SEED to replay), duration ${DURATION_MS} ms (FUZZ_MS)`);
  const f = fuzzer(SEED);
  const peer = await opcuaPeer(t);
  const dataDir = await tempDir(t, 'gatehouse-fuzz-opcua-');

  // One server for the whole test, whose behaviour switches: 'record' and 'real' proxy to the
  // real server (recording its side), 'fuzz' answers from the recording.
  let mode: 'record' | 'fuzz' | 'real' = 'record';
  let recorded: Buffer[] = [];
  const open = new Set<Socket>();
  const counts = { connections: 0, replayed: 0, mutated: 0, closedByRound: 0, stalled: 0 };
  const server = createServer((inbound) => {
    open.add(inbound);
    inbound.on('close', () => open.delete(inbound));
    inbound.on('error', () => undefined);
    counts.connections++;
    if (mode !== 'fuzz') {
      const rec = mode === 'record';
      const chunks: Buffer[] = [];
      const out = netConnect(peer.port, '127.0.0.1');
      out.on('error', () => inbound.destroy());
      inbound.on('data', (d: Buffer) => out.write(d));
      out.on('data', (d: Buffer) => {
        if (rec) chunks.push(Buffer.from(d));
        inbound.write(d);
      });
      inbound.on('close', () => {
        out.destroy();
        if (rec && chunks.length > 0) recorded = splitMessages(Buffer.concat(chunks));
      });
      out.on('close', () => inbound.destroy());
      return;
    }
    // A fuzz round: how this connection goes wrong.
    const round = f.int(6);
    let pending = Buffer.alloc(0);
    let next = 0;
    if (round === 0 && f.rnd() < 0.5) {
      inbound.write(f.randomBytes(f.int(200))); // garbage at once
      if (f.rnd() < 0.5) inbound.end();
    }
    inbound.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      for (const m of splitMessages(pending)) {
        pending = pending.subarray(m.length);
        const answer = recorded[next++];
        if (!answer || inbound.destroyed) return;
        let bytes: Buffer = answer;
        const r = f.rnd();
        if (round === 1) {
          counts.stalled++;
          return; // stalls: reads on, answers nothing more
        }
        if (r < 0.35) {
          bytes = f.mutate(answer);
          counts.mutated++;
        } else if (r < 0.45) {
          bytes = Buffer.from(answer);
          bytes.writeUInt32LE(f.pick([0, 1, 8, answer.length - 1, answer.length + 1, 0x7fffffff, 0xffffffff, f.int(2 ** 32)]), 4);
          counts.mutated++;
        } else if (r < 0.5) {
          bytes = Buffer.concat([answer, f.randomBytes(1 + f.int(64))]);
          counts.mutated++;
        }
        counts.replayed++;
        if (round === 2 && f.rnd() < 0.3) {
          // cut mid-message, and the connection closed
          inbound.end(bytes.subarray(0, f.int(bytes.length)));
          counts.closedByRound++;
          return;
        }
        if (round === 3 && f.rnd() < 0.3) {
          // in pieces
          const at = f.int(bytes.length);
          inbound.write(bytes.subarray(0, at));
          setTimeout(() => !inbound.destroyed && inbound.write(bytes.subarray(at)), f.int(20)).unref();
          continue;
        }
        inbound.write(bytes);
        if (round === 4 && f.rnd() < 0.2) {
          inbound.destroy(); // reset
          counts.closedByRound++;
          return;
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of open) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;

  const intake = await storeIntake(t);
  const { logger, lines } = capturedLogger();
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://127.0.0.1:${port}/UA/Test`,
      pkiDir: join(dataDir, 'pki'),
      connectTimeoutMs: 500,
      backoff: { initialMs: 10, maxMs: 50 },
      subscriptions: [{ publishingIntervalMs: 50, items: [{ nodeId: 'ns=1;s=Speed', name: 'speed' }] }],
    }),
    sourceDeps(t, { dataDir, logger }),
  );
  await source.start(intake);
  t.after(() => source.stop());
  const speeds = async (): Promise<number> => (await intake.records()).length;
  await waitUntil(async () => (await speeds()) > 0, 'a first value through the recording proxy', 30_000);
  // the recording ends with the connection: make the source reconnect through the fuzz
  mode = 'fuzz';
  for (const s of open) s.destroy();
  await waitUntil(() => recorded.length >= 4, 'the recorded session', 10_000);

  const heap0 = heapAfterGc();
  const c0 = counts.connections;
  const deadline = Date.now() + DURATION_MS;
  let lastConnections = c0;
  let lastProgress = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (counts.connections > lastConnections) {
      lastConnections = counts.connections;
      lastProgress = Date.now();
    }
    // no hang: the source gives up on a bad connection within its connectTimeoutMs (500 ms) at each
    // step (connect, session, subscription, monitored items: seed 7 held the subscription's creation
    // for node-opcua's 15 s transaction timeout before round 34 bounded it) and the backoff (50 ms),
    // closes it (bounded at 2 s) and connects again; a session's keep-alive watchdog is its own
    // bound (3 keepalive periods + 2 s): allow 10 s
    assert.ok(Date.now() - lastProgress < 10_000, `the source has not connected again for 10 s (status ${JSON.stringify(source.status())})`);
  }
  const lastError = (source.status().details as { lastError: string | null }).lastError;
  console.log(`# fuzz-opcua: ${JSON.stringify(counts)}, ${counts.connections - c0} connections in the fuzz; lastError ${lastError}`);
  assert.ok(counts.connections - c0 >= 3, 'the source connected again and again');
  if (lastError !== null) assert.match(lastError, /^GH_[A-Z_]+: /, 'the error carries a catalogue code');

  // Back to the real server: the values come through again.
  mode = 'real';
  for (const s of open) s.destroy();
  const before = await speeds();
  peer.values.Speed = 42.5;
  await waitUntil(async () => (await speeds()) > before, 'values through the real server again', 60_000);
  await source.stop();
  await waitUntil(() => open.size === 0, 'every connection of the source closed once it stopped', 5000);
  const errors = lines.filter((l) => Number((l as { level?: number }).level) >= 50);
  assert.deepEqual(errors.slice(0, 3), [], 'nothing logged as an error');
  const heapGrowth = heapAfterGc() - heap0;
  console.log(`# fuzz-opcua: ${lines.length} log lines, heap +${Math.round(heapGrowth / 1024)} KiB`);
  assert.ok(heapGrowth < 64 * 1024 * 1024, `heap after GC grew ${heapGrowth} bytes`);
});
