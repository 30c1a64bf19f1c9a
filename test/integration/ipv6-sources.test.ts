// Field-bus sources reaching their devices by IPv6 address: a Modbus TCP device listening on ::1
// only (jsmodbus), an OPC UA server dialled as opc.tcp://[::1] (node-opcua's own server, on every
// address). Skips only where the machine has no IPv6 loopback.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { opcuaKind, opcuaOptionsSchema } from '../../gateway/pipeline/sources/opcua/index.js';
import { waitUntil } from '../helpers/index.js';
import { modbusTcpPeer, sourceDeps, storeIntake } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';
import { noIpv6Loopback } from '../helpers/ipv6.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { main } from '../../gateway/cli/main.js';

const noV6 = await noIpv6Loopback();

let pki = '';
before(async () => {
  pki = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-pki-'));
});
after(() => rm(pki, { recursive: true, force: true }));

test("a Modbus TCP device on ::1 is polled with tcp.host '::1' and '[::1]' (as in a URL), and named tcp://[::1]:port", { skip: noV6 }, async (t) => {
  const peer = await modbusTcpPeer(t, 200, '::1');
  peer.holding.writeUInt16BE(1234, 0);
  for (const host of ['::1', '[::1]']) {
    const intake = await storeIntake(t);
    const deps = sourceDeps(t);
    const options = modbusOptionsSchema.parse({
      type: 'modbus',
      name: 'plc',
      tcp: { host, port: peer.port },
      timeoutMs: 500,
      backoff: { initialMs: 50, maxMs: 400 },
      devices: [{ name: 'd', groups: [{ intervalMs: 50, tags: [{ name: 'level', area: 'holding', address: 0 }] }] }],
    });
    const source = await modbusKind.create(options, deps);
    await source.start(intake);
    t.after(() => source.stop());
    // before: '[::1]' was dialled as a name (getaddrinfo ENOTFOUND [::1]) and retried for ever
    await waitUntil(async () => (await intake.records()).some((r) => JSON.parse(r.payload.toString()).value === 1234), `a value read through ${host}`, 10_000);
    assert.equal((source.status().details as { endpoint: string }).endpoint, `tcp://[::1]:${peer.port}`, host);
    await source.stop();
  }
});

test('a Modbus tcp.host with the port in it is refused, saying where the port goes', () => {
  const r = modbusOptionsSchema.safeParse({ type: 'modbus', name: 'plc', tcp: { host: '[fd00::10]:502' }, devices: [] });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /write host: 'fd00::10' and port: 502/);
});

test('an OPC UA server is subscribed to at opc.tcp://[::1]:port (node-opcua dialled the name "[::1]")', { skip: noV6 }, async (t) => {
  const peer = await opcuaPeer(t, {}, join(pki, 'server'));
  const intake = await storeIntake(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  const source = await opcuaKind.create(
    opcuaOptionsSchema.parse({
      type: 'opcua',
      name: 'ua',
      endpoint: `opc.tcp://[::1]:${peer.port}/UA/Test`,
      pkiDir: join(pki, 'client'),
      backoff: { initialMs: 100, maxMs: 500 },
      connectTimeoutMs: 5000,
      subscriptions: [{ publishingIntervalMs: 100, items: [{ nodeId: 'ns=1;s=Speed', name: 'speed', samplingIntervalMs: 50 }] }],
    }),
    sourceDeps(t, { dataDir }),
  );
  await source.start(intake);
  t.after(async () => {
    await source.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  await waitUntil(
    async () => (await intake.records()).some((r) => r.topic === 'opcua/ua/speed'),
    `a value over [::1] (${JSON.stringify((source.status().details as { lastError?: unknown }).lastError)})`,
    20_000,
  );
  const value = (await intake.records()).find((r) => r.topic === 'opcua/ua/speed')!;
  assert.equal(JSON.parse(value.payload.toString()).value, 1.5);
});

test("gatehouse opcua browse at opc.tcp://[::1]:port lists the server's nodes; written without brackets, it says how to write it", {
  skip: noV6,
}, async (t) => {
  const peer = await opcuaPeer(t, {}, join(pki, 'server'));
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-opcua-data-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const r = await runCaptured(main, ['opcua', 'browse', '--endpoint', `opc.tcp://[::1]:${peer.port}/UA/Test`, '--data-dir', dataDir, '--trust-server']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /ns=1;s=Speed\s+Variable\s+1:Speed\s+Double = 1\.5/);
  // before: 'cannot open an OPC UA session: The connection may have been rejected by server, Err = (Invalid endpoint url ...)'
  const bare = await runCaptured(main, ['opcua', 'browse', '--endpoint', `opc.tcp://::1:${peer.port}/UA/Test`, '--data-dir', dataDir]).catch((e: Error) => ({
    code: 1,
    out: '',
    err: String(e),
  }));
  assert.notEqual(bare.code, 0);
  assert.ok(bare.err.includes(`an IPv6 address in a URL goes in brackets: 'opc.tcp://[::1]:${peer.port}/UA/Test'`), bare.err);
});
