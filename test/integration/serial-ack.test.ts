// Acknowledged mode over real ptys: the simulated device keeps unacked frames and resends them;
// the link ACKs only after onMessage's promise (the commit) resolves, NAKs on rejection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialLink, type SerialLink } from '../../firmware-bridge/link.js';
import { createSimulatedDevice, simulatorLinkOptions, type SimCodec, type SimFraming } from '../../firmware-bridge/simulator.js';
import type { Message } from '../../core/message.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

function seqOf(m: Message): number {
  return (JSON.parse(m.payload.toString()) as { seq: number }).seq;
}

for (const [framing, codec, mode] of [
  ['crc', 'struct', 'header'],
  ['cobs', 'json', 'header'],
  ['line', 'json', 'field'],
] as Array<[SimFraming, SimCodec, string]>) {
  test(`serial ack (${mode} mode, ${framing}/${codec}): frames lost while the gateway is down are resent and all arrive`, { skip: socatSkip }, async (t) => {
    const pair = await startSocat(t);
    const committed = new Set<number>();
    let total = 0;
    const makeLink = (): SerialLink => {
      const deps = testDeps();
      return createSerialLink(simulatorLinkOptions('acked', pair.dev1, framing, codec, true), {
        ...deps,
        // A commit that completes asynchronously, like a store batch write.
        onMessage: (m) =>
          new Promise<void>((resolve) =>
            setImmediate(() => {
              committed.add(seqOf(m));
              total++;
              resolve();
            }),
          ),
      });
    };
    let link = makeLink();
    await link.start();
    const N = 300;
    const dev = createSimulatedDevice({ path: pair.dev0, rate: 300, framing, codec, ack: true, count: N, ackTimeoutMs: 300, bufferSize: 512 });
    await dev.start();
    t.after(() => dev.stop());
    await waitUntil(() => committed.size >= 50, 'first frames committed');
    // Gateway killed: its end of the cable closes; frames sent meanwhile are lost on the wire.
    await link.stop();
    await waitUntil(() => dev.stats().unacked >= 30, 'device buffering unacked frames', 5000);
    link = makeLink();
    await link.start();
    t.after(() => link.stop());
    await dev.done;
    for (let i = 0; i < N; i++) assert.ok(committed.has(i), `seq ${i} committed`);
    const s = dev.stats();
    assert.equal(s.unacked, 0);
    assert.ok(s.resent > 0, 'frames were resent');
    assert.ok(total >= N, 'at-least-once: duplicates allowed, nothing missing');
  });
}

test('serial ack: a rejected commit sends NAK, the device resends at once, and the frame is then committed', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const seen: number[] = [];
  let failed = false;
  const link = createSerialLink(simulatorLinkOptions('nak', pair.dev1, 'slip', 'csv', true), {
    ...deps,
    onMessage: (m) => {
      const seq = seqOf(m);
      seen.push(seq);
      if (seq === 3 && !failed) {
        failed = true;
        return Promise.reject(new Error('stream full'));
      }
      return Promise.resolve();
    },
  });
  await link.start();
  t.after(() => link.stop());
  // Long ack timeout: only the NAK can trigger the quick resend.
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 200, framing: 'slip', codec: 'csv', ack: true, count: 10, ackTimeoutMs: 30000 });
  await dev.start();
  t.after(() => dev.stop());
  await dev.done;
  assert.equal(seen.filter((s) => s === 3).length, 2);
  assert.equal(dev.stats().naks, 1);
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_acks_total', { link: 'nak', kind: 'nak' }), 1);
  await waitUntil(async () => (await metricValue(deps.registry, 'gatehouse_serial_acks_total', { link: 'nak', kind: 'ack' })) === 10, '10 ACKs counted');
});

test('serial ack: dedupWindow drops a resent frame that was already committed, and ACKs it again', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const seen: number[] = [];
  const opts = simulatorLinkOptions('dedup', pair.dev1, 'crc', 'json', true);
  const link = createSerialLink(
    { ...opts, ack: { enabled: true, mode: 'header', field: 'seq', dedupWindow: 64 } },
    {
      ...deps,
      onMessage: (m) => {
        seen.push(seqOf(m));
        return Promise.resolve();
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  // The device loses half of the ACKs, so it resends frames the link has already committed:
  // the window must drop them (and ACK them again so the device can forget them).
  const dev = createSimulatedDevice({
    path: pair.dev0,
    rate: 100,
    framing: 'crc',
    codec: 'json',
    ack: true,
    count: 20,
    ackTimeoutMs: 150,
    dropAcks: 0.5,
    seed: 3,
  });
  await dev.start();
  t.after(() => dev.stop());
  await dev.done;
  assert.deepEqual(
    seen,
    Array.from({ length: 20 }, (_, i) => i),
    'each frame handed on exactly once',
  );
  assert.ok(dev.stats().resent > 0, 'the device resent frames');
  assert.ok((await metricValue(deps.registry, 'gatehouse_serial_duplicates_total', { link: 'dedup' })) > 0, 'duplicates dropped');
});
