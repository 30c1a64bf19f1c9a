// Modbus values as the rules see them, against a real jsmodbus server: a float register that
// reads NaN (a sensor fault, an unset register at power-up) under report by exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { localBus, modbusTcpPeer, storeIntake } from '../helpers/industrial.js';
import { deviceStatus, modbusDetails, oneTagDevice, payloads, readErrors, startModbus, tcpOptions, untilReadErrors } from '../helpers/modbus-source.js';

test('report by exception: a float that was NaN is reported again once it reads a number, and NaN is reported once, not every poll', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.holding.writeFloatBE(Number.NaN, 0);
  peer.holding.writeFloatBE(Number.NaN, 8); // register 4
  const intake = await storeIntake(t);
  const { deps } = await startModbus(
    t,
    tcpOptions('f', peer.port, {
      timeoutMs: 300,
      retries: 0,
      devices: [
        {
          name: 'd',
          groups: [
            {
              intervalMs: 20,
              report: 'change',
              deadband: 0.5,
              tags: [
                { name: 'temp', area: 'holding', address: 0, type: 'float32' },
                { name: 'flow', area: 'holding', address: 4, type: 'float32', deadband: 0 },
              ],
            },
          ],
        },
      ],
    }),
    intake,
  );
  await waitUntil(() => metricValue(deps.registry, 'gatehouse_industrial_values_total').then((v) => v >= 10), '10 polls');
  // NaN has no JSON number: the value is null, once (NaN !== NaN must not count as a change).
  assert.deepEqual(
    (await payloads(intake, 'modbus/f/d/temp')).map((p) => p.value),
    [null],
  );
  assert.deepEqual(
    (await payloads(intake, 'modbus/f/d/flow')).map((p) => p.value),
    [null],
    'without deadband too',
  );
  peer.holding.writeFloatBE(21.5, 0);
  await waitUntil(async () => (await payloads(intake, 'modbus/f/d/temp')).some((p) => p.value === 21.5), 'the number after NaN is reported', 5000);
  peer.holding.writeFloatBE(Number.NaN, 0);
  await waitUntil(async () => (await payloads(intake, 'modbus/f/d/temp')).length === 3, 'NaN again is a change', 5000);
  assert.deepEqual(
    (await payloads(intake, 'modbus/f/d/temp')).map((p) => p.value),
    [null, 21.5, null],
  );
});

test('a store refusing every commit is counted per poll and logged at a bounded rate, not once per poll', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  intake.failing = true;
  const { deps, logs: lines } = await startModbus(
    t,
    tcpOptions('c', peer.port, {
      devices: [oneTagDevice()],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'commit' }, 30, '30 polls not committed', 10_000);
  const warned = lines.filter((l) => l.msg === 'modbus poll not committed; values are read again next poll').length;
  assert.ok(warned >= 1 && warned <= 2, `${warned} warnings for 30 refused commits`);
  intake.failing = false;
  await waitUntil(async () => (await intake.records()).length >= 1, 'committed once the store takes them');
});

test('report by exception in group mode: a tag the device keeps refusing is reported with its error once, not every poll', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.holding.writeUInt16BE(7, 0);
  const intake = await storeIntake(t);
  const { deps } = await startModbus(
    t,
    tcpOptions('g', peer.port, {
      publish: 'group',
      devices: [
        {
          name: 'd',
          groups: [
            {
              name: 'rbe',
              intervalMs: 20,
              report: 'change',
              tags: [
                { name: 'level', area: 'holding', address: 0 },
                { name: 'missing', area: 'input', address: 250 }, // past the peer's 200 input registers: exception 0x02
              ],
            },
          ],
        },
      ],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'exception' }, 20, '20 polls');
  const first = await payloads(intake, 'modbus/g/d/rbe');
  assert.equal(first.length, 1, `one message for 20 unchanged polls, got ${first.length}`);
  assert.deepEqual(first[0]!.values, { level: 7 });
  assert.match(String((first[0]!.errors as Record<string, string>).missing), /exception 0x02/);
  peer.holding.writeUInt16BE(8, 0);
  await waitUntil(async () => (await payloads(intake, 'modbus/g/d/rbe')).length === 2, 'the change reported');
  const second = (await payloads(intake, 'modbus/g/d/rbe'))[1]!;
  assert.deepEqual(second.values, { level: 8 });
  assert.ok(second.errors, 'a message carries the current errors');
});

test('a tag whose every read fails a length or CRC check is logged (rate-limited), not only counted', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const { deps, logs: lines } = await startModbus(
    t,
    tcpOptions('p', peer.port, {
      devices: [
        {
          name: 'd',
          groups: [
            {
              intervalMs: 20,
              tags: [
                { name: 'ok', area: 'holding', address: 0 },
                // Past the peer's 200 holding registers: jsmodbus answers a short frame (a length error).
                { name: 'far', area: 'holding', address: 250 },
              ],
            },
          ],
        },
      ],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'protocol' }, 20, '20 failed reads of the tag');
  const logged = lines.filter((l) => l.msg === 'modbus protocol error');
  assert.ok(logged.length >= 1 && logged.length <= 2, `${logged.length} log lines for 20 protocol errors`);
  assert.deepEqual((logged[0] as unknown as { tags: string[] }).tags, ['far']);
  // In the plant's words (modbus-serial said "Data length error, expected 7 got 5").
  assert.match((logged[0] as unknown as { err: string }).err, /^answer frame of \d+ bytes, 7 expected \(the device cut or padded it/);
});

test('a flood of refused writes is answered and counted one by one, and logged at a bounded rate', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const bus = localBus();
  const { source, logs: lines } = await startModbus(
    t,
    tcpOptions('w', peer.port, {
      commands: { topic: 'cmd/w' },
      devices: [{ name: 'd', groups: [{ tags: [{ name: 'sp', area: 'holding', address: 0, type: 'int16', writable: true }] }] }],
    }),
    intake,
    bus.deps,
  );
  for (let i = 0; i < 30; i++) bus.send('cmd/w', { id: i, device: 'd', tag: 'sp', value: 1.5 });
  await waitUntil(() => bus.published.filter((p) => p.topic === 'cmd/w/reply').length === 30, '30 replies');
  assert.equal(modbusDetails(source).writes.refused, 30);
  const logged = lines.filter((l) => l.msg === 'modbus write not done').length;
  assert.ok(logged >= 1 && logged <= 2, `${logged} log lines for 30 refused writes`);
});

test('an answer whose byte count does not match the read is a protocol error on its tags, never values (coils read as false)', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.coils.writeUInt8(0b11, 0);
  peer.holding.writeUInt16BE(7, 0);
  peer.input.writeUInt16BE(9, 0);
  // A device or TCP gateway with a framing fault: the frame has the right length, the byte count
  // inside it (after the 7-byte MBAP header and the function code) does not.
  peer.tamper = (answer) => {
    const fc = answer[7];
    const out = Buffer.from(answer);
    if (fc === 1) out[8] = 0; // says no data: the library gave an empty bit list
    if (fc === 3) out[8] = (answer[8] as number) / 2; // counts registers, not bytes
    if (fc === 4) out[8] = (answer[8] as number) + 10; // runs past the frame: the parser threw
    return out;
  };
  const intake = await storeIntake(t);
  const { source, deps } = await startModbus(
    t,
    tcpOptions('b', peer.port, {
      devices: [
        {
          name: 'd',
          groups: [
            {
              intervalMs: 20,
              tags: [
                { name: 'c0', area: 'coil', address: 0 },
                { name: 'c1', area: 'coil', address: 1 },
                { name: 'h0', area: 'holding', address: 0 },
                { name: 'h1', area: 'holding', address: 1 },
                { name: 'i0', area: 'input', address: 0 },
              ],
            },
          ],
        },
      ],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'protocol' }, 9, 'three polls of three refused answers');
  const device = deviceStatus(source);
  assert.deepEqual(
    (await intake.records()).map((r) => r.topic),
    [],
    'no value from a malformed answer',
  );
  assert.match(device?.tagErrors.c0 ?? '', /byte count is 0 for a read of 2 bits \(1 expected\)/);
  assert.match(device?.tagErrors.h1 ?? '', /byte count is 2 for a read of 2 registers \(4 expected\)/);
  assert.match(device?.tagErrors.i0 ?? '', /malformed answer/);
  // The device answered: no connection error, no backoff.
  assert.equal(device?.readErrors.connection, 0);
  assert.equal(device?.state, 'waiting', 'no good read yet, and not failing (backoff)');
  peer.tamper = undefined;
  await waitUntil(async () => (await payloads(intake, 'modbus/b/d/c0')).length > 0, 'a value once the answers are well formed');
  assert.equal((await payloads(intake, 'modbus/b/d/c0'))[0]?.value, true);
  assert.equal((await payloads(intake, 'modbus/b/d/i0'))[0]?.value, 9);
});

test('an answer from another unit id is a protocol error that names both unit ids', async (t) => {
  const peer = await modbusTcpPeer(t);
  // Two devices with one unit id, or a TCP gateway mapping unit ids wrongly: unit 1 is asked, unit 2 answers.
  peer.tamper = (answer) => {
    const out = Buffer.from(answer);
    out[6] = 2;
    return out;
  };
  const intake = await storeIntake(t);
  const { source, deps } = await startModbus(
    t,
    tcpOptions('u', peer.port, {
      devices: [{ name: 'd', unitId: 1, groups: [{ intervalMs: 20, tags: [{ name: 'h0', area: 'holding', address: 0 }] }] }],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'protocol' }, 1, 'a refused answer');
  const device = deviceStatus(source);
  assert.equal(device?.tagErrors.h0, 'answer from unit 2 to a request to unit 1 (two devices with one unit id, or a gateway mapping unit ids wrongly)');
  assert.equal((await intake.records()).length, 0);
});

test('a write whose echo names another value or address is answered ok: false (the device says it wrote something else)', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const bus = localBus();
  const { source } = await startModbus(
    t,
    tcpOptions('e', peer.port, {
      commands: { topic: 'cmd/e' },
      devices: [
        {
          name: 'd',
          groups: [
            {
              tags: [
                { name: 'sp', area: 'holding', address: 4, type: 'int16', writable: true },
                { name: 'run', area: 'coil', address: 2, writable: true },
              ],
            },
          ],
        },
      ],
    }),
    intake,
    bus.deps,
  );
  await waitUntil(async () => (await intake.records()).length > 0, 'connected and polling');
  // A faulty device (or a gateway mixing answers up): the FC6 echo says value 8 at address 5.
  peer.tamper = (answer) => {
    if (answer[7] !== 6) return answer;
    const out = Buffer.from(answer);
    out.writeUInt16BE(5, 8);
    out.writeUInt16BE(8, 10);
    return out;
  };
  let reply = bus.next('cmd/e/reply');
  bus.send('cmd/e', { id: 1, device: 'd', tag: 'sp', value: 7 });
  const r = await reply;
  assert.equal(r.ok, false);
  assert.equal(r.error, "the device's echo names address 5, value 8, not address 4, value 7: the write may not have been done as asked (read the tag back)");
  assert.equal(modbusDetails(source).writes.failed, 1);
  // A true echo (the coil, FC5) is still ok.
  reply = bus.next('cmd/e/reply');
  bus.send('cmd/e', { id: 2, device: 'd', tag: 'run', value: true });
  assert.equal((await reply).ok, true);
});

test('a wildcard command topic holds its default reply topic: a reply is not taken for a command (it was answered, forever)', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const bus = localBus();
  // A broker delivers the source's own replies to its subscription 'cmd/#' (bounded here, to end the test before the fix).
  const publish = (topic: string, payload: Buffer): void => {
    bus.deps.publish?.(topic, payload);
    if (bus.published.length < 1000) bus.send(topic, JSON.parse(payload.toString()));
  };
  const { source } = await startModbus(
    t,
    tcpOptions('r', peer.port, {
      commands: { topic: 'cmd/#' },
      devices: [{ name: 'd', groups: [{ tags: [{ name: 'sp', area: 'holding', address: 0, writable: true }] }] }],
    }),
    intake,
    { publish, subscribe: bus.deps.subscribe },
  );
  await waitUntil(async () => (await intake.records()).length > 0, 'connected and polling');
  const reply = bus.next('cmd/reply');
  bus.send('cmd/d', { id: 1, device: 'nope', tag: 'sp', value: 1 });
  assert.equal((await reply).ok, false);
  await new Promise((r) => setImmediate(r));
  assert.equal(bus.published.filter((p) => p.topic === 'cmd/reply').length, 1, 'one reply');
  assert.equal(modbusDetails(source).writes.refused, 1);
  // Replies on the command topic itself are refused by the config.
  const same = modbusOptionsSchema.safeParse({
    type: 'modbus',
    name: 'r',
    tcp: { host: 'h' },
    commands: { topic: 'cmd/x', replyTopic: 'cmd/x' },
    devices: [{ name: 'd', groups: [{ tags: [{ name: 'sp', area: 'holding', address: 0, writable: true }] }] }],
  });
  assert.deepEqual(
    same.error?.issues.map((i) => i.message),
    ["the reply topic is the command topic: give replies their own topic, e.g. 'cmd/x/reply' (the default)"],
  );
});

test('an answer with another transaction id (a device or TCP gateway answering out of step) is its own error, not a timeout', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.holding.writeUInt16BE(7, 0);
  // A TCP gateway that does not copy the request's MBAP transaction id into its answer (or answers
  // the request before): the answer comes, under another id, and the library drops it.
  peer.tamper = (answer) => {
    const out = Buffer.from(answer);
    out.writeUInt16BE((answer.readUInt16BE(0) + 100) % 65536, 0);
    return out;
  };
  const intake = await storeIntake(t);
  const { source, deps } = await startModbus(
    t,
    tcpOptions('x', peer.port, {
      timeoutMs: 100,
      devices: [{ name: 'd', unitId: 1, groups: [{ intervalMs: 20, tags: [{ name: 'h0', area: 'holding', address: 0 }] }] }],
    }),
    intake,
  );
  await untilReadErrors(deps, { error: 'out-of-step' }, 2, 'two answers out of step');
  const device = deviceStatus(source);
  assert.match(device?.tagErrors.h0 ?? '', /answer with transaction id \d+ while the request with id \d+ waited/);
  assert.equal(device?.readErrors.timeout, 0, 'not a timeout: the device answered');
  assert.equal(await readErrors(deps, { error: 'timeout' }), 0);
  peer.tamper = undefined;
  await waitUntil(async () => (await payloads(intake, 'modbus/x/d/h0')).length > 0, 'a value once the ids match');
  assert.equal((await payloads(intake, 'modbus/x/d/h0'))[0]?.value, 7);
});
