// A PLC that goes away (a power cut, a reset) while a write waits for its echo: the connection
// closes, and the write was answered only at its timeout, `no response (timed out)`, as if the
// device had been silent (found in a plant trial killing the PLC's process as the write came).
// Now it is answered when the connection closes, saying the write may have been done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../helpers/index.js';
import { localBus, modbusTcpPeer, storeIntake } from '../helpers/industrial.js';
import { modbusDetails, startModbus, tcpOptions } from '../helpers/modbus-source.js';

test('a write whose device goes away before the echo is answered at once: connection lost, may have been done, read the tag back', async (t) => {
  const peer = await modbusTcpPeer(t);
  const intake = await storeIntake(t);
  const bus = localBus();
  const { source } = await startModbus(
    t,
    tcpOptions('w', peer.port, {
      timeoutMs: 5000,
      commands: { topic: 'cmd/w' },
      devices: [{ name: 'd', groups: [{ intervalMs: 60_000, tags: [{ name: 'sp', area: 'holding', address: 0, writable: true }] }] }],
    }),
    intake,
    bus.deps,
  );
  await waitUntil(() => modbusDetails(source).connected, 'connected', 5000);
  // The echo of the write (function code 6) is never sent: the device is gone, its connection reset.
  peer.tamper = (answer) => {
    if (answer.length > 7 && answer[7] === 6) {
      void peer.kill();
      return Buffer.alloc(0);
    }
    return answer;
  };
  const sent = performance.now();
  bus.send('cmd/w', { id: 'w1', device: 'd', tag: 'sp', value: 5 });
  const reply = await bus.next('cmd/w/reply', 10_000);
  const after = performance.now() - sent;
  assert.equal(reply.ok, false);
  assert.match(
    String(reply.error),
    /^connection lost while the write waited for the device's echo \(.+\): it may have been done; read the tag back$/,
    String(reply.error),
  );
  assert.equal(reply.errorKind, 'connection');
  assert.ok(after < 4000, `answered when the connection closed, not at the 5 s timeout (${Math.round(after)} ms)`);
  assert.equal(modbusDetails(source).writes.failed, 1);
});
