// Modbus TCP outages as the status, the counters and the log report them, against a real jsmodbus
// server: a server that accepts connections but never answers (a frozen PLC whose kernel still
// completes the TCP handshake) is one outage, and a dead unit id behind a TCP gateway is that
// device's fault, not the connection's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, waitUntil } from '../helpers/index.js';
import { localBus, modbusTcpPeer, storeIntake, tcpProxy } from '../helpers/industrial.js';
import {
  countOf as count,
  deviceStatus,
  modbusDetails as details,
  oneTagDevice,
  readErrors,
  startModbus,
  tcpOptions,
  untilReadErrors,
} from '../helpers/modbus-source.js';

/** Timeouts of 200 ms, no retry: an outage shows within a second. */
const QUICK = { timeoutMs: 200, retries: 0 };
/** A TCP gateway in front of a live unit 1 and a dead (or failing) unit 2, both polled with `group`. */
const gatewayUnits = (group: Record<string, unknown>): Record<string, unknown>[] => [
  { name: 'live', unitId: 1, groups: [group] },
  { name: 'dead', unitId: 2, groups: [group] },
];
const holdingN = { name: 'n', area: 'holding', address: 0 };
const restored = (logs: { msg: string }[]): number => logs.filter((l) => l.msg === 'modbus connection restored').length;

test('a server that accepts connections but never answers is one outage: retrying, no gap and no "restored" until it answers again', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const { source, deps, logs } = await startModbus(
    t,
    tcpOptions('m', peer.port, { ...QUICK, backoff: { initialMs: 50, maxMs: 100 }, devices: [oneTagDevice()] }),
    intake,
  );
  await waitUntil(async () => (await count(intake, 'modbus/m/d/n')) >= 3, 'polling');
  const mutedAt = performance.now();
  peer.mute(true);
  // The silent server takes every new connection: several reconnects, none of them an end of the outage.
  await waitUntil(() => details(source).reconnects >= 3, 'reconnected to the silent server 3 times', 15_000);
  assert.equal(details(source).gaps, 0, 'no gap is closed while the server does not answer');
  assert.equal(source.status().state, 'retrying');
  assert.equal(restored(logs), 0, 'nothing was restored');
  // Connected to the device means answered by it: a socket the server accepted and never answers on is not.
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_connected'), 0);
  assert.equal(details(source).connected, false);
  const n = await count(intake, 'modbus/m/d/n');
  peer.mute(false);
  await waitUntil(async () => (await count(intake, 'modbus/m/d/n')) >= n + 3, 'values flow again', 10_000);
  const outageMs = performance.now() - mutedAt;
  assert.equal(source.status().state, 'running');
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_connected'), 1);
  assert.equal(details(source).gaps, 1, 'one outage, one gap');
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_gaps_total'), 1);
  assert.equal(restored(logs), 1);
  const gapMs = 1000 * (await metricValue(deps.registry, 'gatehouse_industrial_gap_seconds_total'));
  assert.ok(gapMs >= 0.5 * outageMs && gapMs <= outageMs + 100, `gap ${gapMs.toFixed(0)} ms for an outage of ${outageMs.toFixed(0)} ms`);
});

test('a server that never answered since the start is not connected: connecting, then retrying, until its first answer', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.mute(true);
  const intake = await storeIntake(t);
  const { source, deps, logs } = await startModbus(
    t,
    tcpOptions('m', peer.port, { ...QUICK, backoff: { initialMs: 50, maxMs: 100 }, devices: [oneTagDevice()] }),
    intake,
  );
  // Sockets open, not a value read: connecting, then retrying (each timeout replaces the socket), never running.
  const seen = new Set<string>();
  await waitUntil(
    () => {
      seen.add(`${source.status().state} connected=${details(source).connected}`);
      return details(source).reconnects >= 2;
    },
    'reconnected to the silent server twice',
    15_000,
  );
  assert.deepEqual([...seen].sort(), ['connecting connected=false', 'retrying connected=false']);
  assert.equal(details(source).connected, false);
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_connected'), 0);
  peer.mute(false);
  await waitUntil(async () => (await count(intake, 'modbus/m/d/n')) >= 1, 'values once it answers', 10_000);
  assert.equal(source.status().state, 'running');
  assert.equal(details(source).connected, true);
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_connected'), 1);
  // Nothing was lost that had been read: no gap, no "restored".
  assert.equal(details(source).gaps, 0);
  assert.equal(restored(logs), 0);
});

test('a connection the device keeps closing is counted each time and logged at a bounded rate', async (t) => {
  const peer = await modbusTcpPeer(t);
  const proxy = await tcpProxy(t, peer.port);
  const intake = await storeIntake(t);
  const { source, deps, logs } = await startModbus(
    t,
    tcpOptions('m', proxy.port, { ...QUICK, backoff: { initialMs: 20, maxMs: 100 }, devices: [oneTagDevice()] }),
    intake,
  );
  // A device closing after each answer, or a second master taking the PLC's one connection.
  for (let i = 1; i <= 5; i++) {
    const n = await count(intake, 'modbus/m/d/n');
    await waitUntil(async () => (await count(intake, 'modbus/m/d/n')) > n && proxy.snapshot().size === 1, `polling (${i})`);
    proxy.snapshot().close();
    await waitUntil(() => details(source).gaps === i, `gap ${i} closed`);
  }
  assert.equal(details(source).reconnects, 5);
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_gaps_total'), 5);
  // One line of each within the minute (the next carries how many it stands for), not five.
  assert.equal(logs.filter((l) => l.msg === 'modbus connection lost, reconnecting').length, 1);
  assert.equal(restored(logs), 1);
});

test('a dead unit id behind a TCP gateway backs off without cycling the connection or slowing the live unit', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.silentUnits.add(2);
  const intake = await storeIntake(t);
  const startedAt = performance.now();
  const { source, deps } = await startModbus(
    t,
    tcpOptions('gw', peer.port, { ...QUICK, backoff: { initialMs: 500, maxMs: 10_000 }, devices: gatewayUnits({ intervalMs: 50, tags: [holdingN] }) }),
    intake,
  );
  await untilReadErrors(deps, { device: 'dead', error: 'timeout' }, 3, '3 timeouts of the dead unit (doubling backoff: 0.5 s, then 1 s)', 15_000);
  const timeouts = await readErrors(deps, { device: 'dead', error: 'timeout' });
  assert.ok(timeouts <= 4, `the dead unit backs off (${timeouts} timeouts)`);
  assert.equal(deviceStatus(source, 'dead')?.state, 'failing');
  assert.equal(deviceStatus(source, 'live')?.state, 'ok');
  // The gateway answers for unit 1 all along: its connection was never lost.
  assert.equal(details(source).gaps, 0, 'no gap');
  assert.equal(await metricValue(deps.registry, 'gatehouse_industrial_gaps_total'), 0);
  assert.equal(source.status().state, 'running');
  // 50 ms polls: the live unit keeps most of them (each timeout of the dead one holds the line 200 ms).
  const polls = (performance.now() - startedAt) / 50;
  const live = await count(intake, 'modbus/gw/live/n');
  assert.ok(live >= 0.5 * polls, `live unit values: ${live} of ${polls.toFixed(0)} polls`);
});

test('a TCP gateway answering 0x0B for a dead unit id: that device backs off and shows failing, the live unit and the connection go on', async (t) => {
  const peer = await modbusTcpPeer(t);
  // Unit 2's answers become the gateway's exception 0x0B (gateway target device failed to respond).
  let deadRequests = 0;
  peer.tamper = (answer) => {
    if (answer.readUInt8(6) !== 2) return answer;
    deadRequests++;
    const out = Buffer.from(answer.subarray(0, 9));
    out.writeUInt16BE(3, 4);
    out[7] = (answer[7] as number) | 0x80;
    out[8] = 0x0b;
    return out;
  };
  const intake = await storeIntake(t);
  const startedAt = performance.now();
  const { source, deps } = await startModbus(
    t,
    tcpOptions('gw', peer.port, { ...QUICK, backoff: { initialMs: 500, maxMs: 10_000 }, devices: gatewayUnits({ intervalMs: 50, tags: [holdingN] }) }),
    intake,
  );
  await waitUntil(async () => performance.now() - startedAt > 2000 && (await count(intake, 'modbus/gw/live/n')) > 0, '2 s of polling');
  // Polled every 50 ms it answered 40 times in 2 s; backed off (0.5 s, 1 s, 2 s) 3 or 4.
  assert.ok(deadRequests >= 2 && deadRequests <= 4, `the dead unit backs off (${deadRequests} requests in 2 s)`);
  const dead = deviceStatus(source, 'dead');
  assert.equal(dead?.state, 'failing');
  assert.equal(dead?.tagErrors.n, 'exception 0x0b gateway target device failed to respond');
  assert.equal(deviceStatus(source, 'live')?.state, 'ok');
  assert.equal(details(source).reconnects, 0, 'the gateway answered: its connection is kept');
  assert.equal(source.status().state, 'running');
  assert.ok((await readErrors(deps, { device: 'dead', error: 'exception' })) >= 2);
});

test('a device already failing is probed once per backoff, not with every retry (each retry holds the line)', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.silentUnits.add(2);
  const intake = await storeIntake(t);
  const { deps } = await startModbus(
    t,
    tcpOptions('gw', peer.port, {
      timeoutMs: 100,
      retries: 2,
      backoff: { initialMs: 50, maxMs: 50 },
      devices: [
        // Read once at the start: every later request is the dead unit's.
        { name: 'live', unitId: 1, groups: [{ intervalMs: 600_000, tags: [holdingN] }] },
        { name: 'dead', unitId: 2, groups: [{ intervalMs: 20, tags: [holdingN] }] },
      ],
    }),
    intake,
  );
  await untilReadErrors(deps, { device: 'dead', error: 'timeout' }, 6, '6 failed polls of the dead unit', 15_000);
  const failed = await readErrors(deps, { device: 'dead', error: 'timeout' });
  const deadRequests = peer.requests - 1;
  // The first failure takes 1 + 2 retries; each probe after it one request (3 each: 3 x failed).
  assert.ok(deadRequests <= 3 + (failed - 1) + 1, `${deadRequests} requests for ${failed} failed polls`);
});

test('polls that fall in an outage or in a device backoff are not counted as overruns', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.silentUnits.add(2);
  const intake = await storeIntake(t);
  // A timeout (200 ms) shorter than the interval: the dead unit's timeouts make no overrun either.
  const { source, deps } = await startModbus(
    t,
    tcpOptions('o', peer.port, { ...QUICK, backoff: { initialMs: 400, maxMs: 800 }, devices: gatewayUnits({ intervalMs: 300, tags: [holdingN] }) }),
    intake,
  );
  const overruns = (): Record<string, number> => Object.fromEntries(details(source).devices.map((d) => [d.name, d.groups[0]!.overruns]));
  await untilReadErrors(deps, { device: 'dead', error: 'timeout' }, 3, '3 timeouts of the dead unit, 0.4 then 0.8 s apart', 15_000);
  await peer.kill();
  await waitUntil(() => source.status().state === 'retrying', 'the outage noticed');
  const since = await count(intake, 'modbus/o/live/n');
  // The outage lasts four refused connects (0.4 + 0.8 + 0.8 s of backoff): about 7 polls' worth.
  await untilReadErrors(deps, { device: '*', error: 'connection' }, 4, '4 refused connects', 10_000);
  await peer.restart();
  await waitUntil(async () => (await count(intake, 'modbus/o/live/n')) >= since + 3, 'values flow again', 10_000);
  // An overrun is a poll the link had no time for; these were the outage's and the backoff's (counted as such).
  assert.ok(overruns().live! <= 1, `live overruns ${JSON.stringify(overruns())}`);
  assert.ok(overruns().dead! <= 1, `dead overruns ${JSON.stringify(overruns())}`);
});

test('a write to a dead unit id behind a TCP gateway times out without cutting the live unit off', async (t) => {
  const peer = await modbusTcpPeer(t);
  peer.silentUnits.add(2);
  const intake = await storeIntake(t);
  const bus = localBus();
  const tags = [{ ...holdingN, writable: true }];
  const { source, deps } = await startModbus(
    t,
    tcpOptions('w', peer.port, {
      ...QUICK,
      commands: { topic: 'cmd/w' },
      devices: [
        { name: 'live', unitId: 1, groups: [{ intervalMs: 50, tags }] },
        // Polled rarely: the write is the request that times out.
        { name: 'dead', unitId: 2, groups: [{ intervalMs: 600_000, tags }] },
      ],
    }),
    intake,
    bus.deps,
  );
  await untilReadErrors(deps, { device: 'dead', error: 'timeout' }, 1, 'the first poll of the dead unit timed out');
  await waitUntil(async () => (await count(intake, 'modbus/w/live/n')) >= 3, 'the live unit answers after it');
  const reply = bus.next('cmd/w/reply', 5000);
  bus.send('cmd/w', { id: 'x', device: 'dead', tag: 'n', value: 1 });
  const r = await reply;
  assert.equal(r.ok, false);
  assert.match(String(r.error), /timed out/);
  const n = await count(intake, 'modbus/w/live/n');
  await waitUntil(async () => (await count(intake, 'modbus/w/live/n')) >= n + 3, 'the live unit keeps answering');
  assert.equal(details(source).reconnects, 0, 'the connection was kept');
  assert.equal(details(source).gaps, 0);
});
