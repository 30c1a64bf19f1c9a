// Every framing x codec end to end over a real pty pair (socat): the simulated device writes on
// dev0, a serial link reads dev1 and delivers Messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialLink, type SerialLink } from '../../firmware-bridge/link.js';
import { createSimulatedDevice, simulatorLinkOptions, simReading, type SimCodec, type SimFraming } from '../../firmware-bridge/simulator.js';
import type { Message } from '../../core/message.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

const COMBOS: Array<[SimFraming, SimCodec]> = [
  ['line', 'json'],
  ['line', 'csv'],
  ['line', 'kv'],
];
for (const f of ['cobs', 'slip', 'crc'] as const) for (const c of ['json', 'csv', 'kv', 'struct'] as const) COMBOS.push([f, c]);

function near(a: unknown, b: number): boolean {
  return typeof a === 'number' && Math.abs(a - b) < 1e-6;
}

for (const [framing, codec] of COMBOS) {
  test(`serial ${framing}/${codec}: frames arrive as Messages with the templated topic and JSON payload`, { skip: socatSkip }, async (t) => {
    const pair = await startSocat(t);
    const deps = testDeps();
    const msgs: Message[] = [];
    const link: SerialLink = createSerialLink(simulatorLinkOptions('uart0', pair.dev1, framing, codec), {
      ...deps,
      onMessage: (m) => {
        msgs.push(m);
        return undefined;
      },
    });
    await link.start();
    t.after(() => link.stop());
    assert.equal(link.status().state, 'open');
    const N = 25;
    const dev = createSimulatedDevice({ path: pair.dev0, rate: 1000, framing, codec, count: N, deviceId: 'dev-7' });
    await dev.start();
    t.after(() => dev.stop());
    await waitUntil(() => msgs.length >= N, `${N} messages (got ${msgs.length})`, 5000);
    assert.equal(msgs.length, N);
    for (let i = 0; i < N; i++) {
      const m = msgs[i]!;
      assert.equal(m.topic, codec === 'struct' ? 'serial/uart0/telemetry' : 'devices/dev-7/telemetry');
      assert.deepEqual(m.source, { kind: 'serial', id: 'uart0' });
      assert.equal(m.qos, 1);
      const got = JSON.parse(m.payload.toString()) as Record<string, unknown>;
      const want = simReading('dev-7', i, codec);
      assert.equal(got.seq, i);
      assert.ok(near(got.temperature, want.temperature as number), `temperature ${String(got.temperature)}`);
      assert.ok(near(got.humidity, want.humidity as number), `humidity ${String(got.humidity)}`);
      if (codec !== 'struct') assert.equal(got.deviceId, 'dev-7');
    }
    const st = link.status();
    assert.equal(st.framesIn, N);
    assert.ok(st.bytesIn > 0);
    assert.equal(st.lastFrameAt, msgs[N - 1]!.receivedAt, "the last frame's time (a device gone silent shows here)");
    assert.equal(await metricValue(deps.registry, 'gatehouse_serial_frames_in_total', { link: 'uart0' }), N);
    assert.equal(await metricValue(deps.registry, 'gatehouse_serial_link_up', { link: 'uart0' }), 1);
  });
}

for (const framing of ['line', 'cobs', 'slip', 'crc'] as const) {
  test(`serial ${framing}: garbage and broken frames mixed into traffic are counted; every valid frame arrives`, { skip: socatSkip }, async (t) => {
    const pair = await startSocat(t);
    const deps = testDeps();
    const seqs = new Set<number>();
    const link = createSerialLink(simulatorLinkOptions('noisy', pair.dev1, framing, 'json'), {
      ...deps,
      onMessage: (m) => {
        seqs.add((JSON.parse(m.payload.toString()) as { seq: number }).seq);
        return undefined;
      },
    });
    await link.start();
    t.after(() => link.stop());
    const N = 150;
    const dev = createSimulatedDevice({ path: pair.dev0, rate: 2000, framing, codec: 'json', count: N, garbage: 0.3, seed: 7 });
    await dev.start();
    t.after(() => dev.stop());
    await dev.done;
    // crc: junk may claim a length that holds back the last frames until the idle flush (frameTimeoutMs).
    await waitUntil(() => seqs.size >= N, `all ${N} valid frames (got ${seqs.size})`, 5000);
    assert.ok(dev.stats().garbage > 20, 'garbage was injected');
    const errors =
      (await metricValue(deps.registry, 'gatehouse_serial_frame_errors_total', { link: 'noisy' })) +
      (await metricValue(deps.registry, 'gatehouse_serial_decode_errors_total', { link: 'noisy' }));
    assert.ok(errors > 0, `broken frames counted (${errors})`);
    assert.equal(link.status().state, 'open');
  });
}
