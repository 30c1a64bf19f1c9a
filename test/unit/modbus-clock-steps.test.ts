// The Modbus poller across wall clock steps (no RTC on a Raspberry Pi: NTP steps the clock by
// hours or years, a bad server backwards). The monotonic clock is the real one (time passes); the
// wall clock is the real one stepped a year back, then forward. The poll schedule must not care:
// after a step back the polls go on (not a year later), after a step forward they do not count a
// year of overruns; the values' timestamps follow the wall clock. The link is a test double.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../../core/message.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import type { ModbusLink, ReadResult } from '../../gateway/pipeline/sources/modbus/link.js';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/options.js';
import { ModbusSource } from '../../gateway/pipeline/sources/modbus/poller.js';
import { testDeps, waitUntil } from '../helpers/index.js';

const YEAR = 365 * 24 * 3600 * 1000;

/** A device that always answers (the register counts up, so every poll reports a value). */
function fakeLink(): { link: ModbusLink; reads: () => number } {
  let reads = 0;
  let open = false;
  const link = {
    get isOpen() {
      return open;
    },
    describe: () => 'tcp://fake:502',
    interFrameMs: () => 0,
    open: async () => {
      open = true;
    },
    close: async () => {
      open = false;
    },
    read: async (): Promise<ReadResult> => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(++reads & 0xffff);
      return { registers: b };
    },
    write: async () => ({}),
  };
  return { link: link as unknown as ModbusLink, reads: () => reads }; // test double: the poller's view of a link
}

test('modbus poller keeps its schedule when the wall clock steps a year back, then forward; timestamps follow the wall clock', async (t) => {
  let offset = 0;
  const messages: Message[] = [];
  const intake: Intake = {
    submit: (m) => {
      messages.push(m);
      return Promise.resolve();
    },
    commitMeta: () => Promise.resolve(),
    readMeta: () => Promise.resolve(undefined),
    accepting: () => true,
  };
  const opts = modbusOptionsSchema.parse({
    type: 'modbus',
    name: 'm',
    tcp: { host: 'fake' },
    devices: [{ name: 'd', groups: [{ name: 'g', intervalMs: 20, tags: [{ name: 'r', area: 'holding', address: 0 }] }] }],
  });
  const { link, reads } = fakeLink();
  const source = new ModbusSource(opts, link, { ...testDeps(), dataDir: '/nonexistent', now: () => Date.now() + offset, monotonic: () => performance.now() });
  await source.start(intake);
  t.after(() => source.stop());
  const overruns = (): number => {
    const devices = source.status().details?.devices as Array<{ groups: Array<{ overruns: number }> }>;
    return devices[0]!.groups[0]!.overruns;
  };
  await waitUntil(() => reads() >= 3, 'the first polls');

  offset = -YEAR;
  const atBack = reads();
  await waitUntil(() => reads() >= atBack + 5, 'polls going on after the wall clock stepped a year back', 3000);
  assert.ok(messages.at(-1)!.receivedAt < Date.now() - YEAR / 2, 'values stamped with the stepped wall clock');

  offset = YEAR;
  const before = overruns();
  const atForward = reads();
  await waitUntil(() => reads() >= atForward + 5, 'polls going on after the wall clock stepped a year forward', 3000);
  // A loaded machine may miss a poll or two of 20 ms; a year of overruns is 1.5e9.
  assert.ok(overruns() - before < 100, `no year of overruns counted after the step forward (${overruns() - before})`);
  assert.ok(messages.at(-1)!.receivedAt > Date.now() + YEAR / 2, 'values stamped with the stepped wall clock');
});
