// The 3.5-character silence between RTU frames (docs/industrial.md, Modbus), kept by the link before
// every request, on a stand-in of modbus-serial's client: a write right after a read's answer, and a
// read right after a write's answer, wait it out. (The poll loop slept after each read only: a write
// queued meanwhile woke that sleep at once, and nothing slept after a write's answer.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { ModbusLink, type ModbusCtor } from '../../gateway/pipeline/sources/modbus/link.js';

/** What the bus saw: each request's start and each answer's end (performance.now). */
type BusEvent = { what: 'request' | 'answer'; at: number };

function standIn(bus: BusEvent[]): ModbusCtor {
  class FakeClient {
    isOpen = false;
    async connectRTUBuffered(): Promise<void> {
      this.isOpen = true;
    }
    setTimeout(): void {}
    on(): this {
      return this;
    }
    destroy(cb: () => void): void {
      this.isOpen = false;
      cb();
    }
    private answer<T>(value: T, cb: (err: unknown, value: T) => void): void {
      bus.push({ what: 'request', at: performance.now() });
      setImmediate(() => {
        bus.push({ what: 'answer', at: performance.now() });
        cb(null, value);
      });
    }
    writeFC3(_unit: number, _address: number, count: number, cb: (err: unknown, value: { buffer: Buffer }) => void): void {
      this.answer({ buffer: Buffer.alloc(count * 2) }, cb);
    }
    writeFC6(_unit: number, address: number, value: number, cb: (err: unknown, value: { address: number; value: number }) => void): void {
      this.answer({ address, value }, cb);
    }
  }
  return FakeClient as unknown as new () => ModbusRTU; // test double: the calls the link makes
}

test('modbus RTU: every request after an answer waits the 3.5-character silence, a write after a read and a read after a write too', async () => {
  const bus: BusEvent[] = [];
  // 1200 baud: 3.5 characters of 11 bits are 33 ms.
  const link = new ModbusLink(standIn(bus), { kind: 'rtu', path: '/dev/null', baudRate: 1200, dataBits: 8, parity: 'none', stopBits: 1 }, 1000);
  const gap = link.interFrameMs();
  assert.equal(gap, 33);
  await link.open(() => undefined);
  try {
    await link.read(1, 'holding', 0, 1);
    await link.write(1, 'holding', 5, Buffer.from([0, 7]));
    await link.read(1, 'holding', 0, 1);
    await link.read(1, 'holding', 0, 1);
  } finally {
    await link.close();
  }
  assert.deepEqual(
    bus.map((e) => e.what),
    ['request', 'answer', 'request', 'answer', 'request', 'answer', 'request', 'answer'],
  );
  for (let i = 2; i < bus.length; i += 2) {
    const silence = bus[i]!.at - bus[i - 1]!.at;
    assert.ok(silence >= gap, `request ${i / 2 + 1} went out ${silence.toFixed(2)} ms after the previous answer, not after ${gap} ms of silence`);
  }
});
