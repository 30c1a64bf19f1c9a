// Another service on the port written as the PLC's (its web server, its OPC UA server, a PLC's own
// protocol): what comes back is no Modbus TCP frame (its MBAP protocol id is not 0). modbus-serial
// waited for the length such bytes seemed to give, so the tag read `no response (timed out)` and
// the source `connection lost: closed by peer`, with nothing saying that something else answered
// (found in a plant trial pointing a source at a web server's port). Now the tag and the source
// say what came, the likely cause and the fix; the link is opened again with backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { waitUntil } from '../helpers/index.js';
import { modbusTcpPeer, storeIntake } from '../helpers/industrial.js';
import { deviceStatus, modbusDetails, oneTagDevice, payloads, startModbus, tcpOptions } from '../helpers/modbus-source.js';

test("a web server on the port: the tag and the source say the answer is not Modbus TCP, with its first line, not 'timed out'", async (t) => {
  // What a web server answers to bytes that are no HTTP request, then it closes.
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    tcpOptions('web', port, { timeoutMs: 300, retries: 0, backoff: { initialMs: 50, maxMs: 200 }, devices: [oneTagDevice(50)] }),
    intake,
  );
  const expected = new RegExp(
    `the answer is not Modbus TCP \\(its header's protocol id is 0x5450, not 0; it begins "HTTP/1.1 400 Bad Request"\\): another service listens at tcp://127.0.0.1:${port} .*check the port \\(502 by default\\)`,
  );
  await waitUntil(() => expected.test(deviceStatus(source)?.lastError ?? ''), 'the device error names what answered', 10_000);
  assert.match(deviceStatus(source)?.tagErrors.n ?? '', expected);
  await waitUntil(() => /closed by peer after the answer is not Modbus TCP/.test(modbusDetails(source).lastError ?? ''), 'the source error too', 10_000);
  assert.equal((await payloads(intake, 'modbus/web/d/n')).length, 0, 'nothing of it stored as a value');
});

test('an OPC UA server on the port (its ERR message, the connection left open): not Modbus TCP, not a timeout; the link is opened again, so values come once a Modbus device answers', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.holding.writeUInt16BE(7, 0);
  // OPC UA's answer to bytes that are no Hello: "ERRF", its size (little-endian), a status code, a
  // reason. Its bytes 4-5 read as an MBAP length of 33,024: the library waited for that many bytes
  // (a timeout), and kept these bytes in front of every later answer on the connection.
  const errf = Buffer.concat([Buffer.from('ERRF'), Buffer.from([0x81, 0, 0, 0]), Buffer.from([0, 0, 0x80, 0x80]), Buffer.from('BadTcpMessageTypeInvalid')]);
  peer.tamper = () => errf;
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    tcpOptions('ua', peer.port, { timeoutMs: 200, retries: 0, backoff: { initialMs: 50, maxMs: 200 }, devices: [oneTagDevice(50)] }),
    intake,
  );
  await waitUntil(
    () => /the answer is not Modbus TCP \(its header's protocol id is 0x5246, not 0; it begins 45 52 52 46 81 00 /.test(deviceStatus(source)?.lastError ?? ''),
    'named',
    10_000,
  );
  assert.match(deviceStatus(source)?.lastError ?? '', /it begins 45 52 52 46 81 00 00 00 00 00 80 80 42 61 64 54 \("ERRF"\)\): another service listens at/);
  assert.equal(deviceStatus(source)?.readErrors.timeout, 0, 'not a timeout');
  assert.ok((deviceStatus(source)?.readErrors.connection ?? 0) >= 1);
  peer.tamper = undefined;
  await waitUntil(async () => (await payloads(intake, 'modbus/ua/d/n')).length > 0, 'a value once the answers are Modbus TCP', 10_000);
  assert.equal((await payloads(intake, 'modbus/ua/d/n'))[0]?.value, 7);
});

test('a frame with another protocol id and another transaction id is not Modbus TCP, not an answer out of step', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.tamper = (answer) => {
    const out = Buffer.from(answer);
    out.writeUInt16BE((answer.readUInt16BE(0) + 100) % 65536, 0);
    out.writeUInt16BE(0x0102, 2);
    return out;
  };
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    tcpOptions('y', peer.port, { timeoutMs: 200, retries: 0, backoff: { initialMs: 50, maxMs: 200 }, devices: [oneTagDevice(50)] }),
    intake,
  );
  await waitUntil(
    () => /the answer is not Modbus TCP \(its header's protocol id is 0x0102, not 0/.test(deviceStatus(source)?.lastError ?? ''),
    'named',
    10_000,
  );
  assert.equal(deviceStatus(source)?.readErrors['out-of-step'], 0);
});
