// Modbus writes and connection losses (docs/industrial.md: "Writes are refused at once while
// disconnected (no stale writes later)"): a write queued while connected, behind a poll, is refused
// when the connection is lost before it was sent, not sent after the reconnect (minutes or hours
// later, when the valve it opens may be the wrong thing to do). The link is a test double.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { type ModbusLink, ModbusRequestError, type ReadResult } from '../../gateway/pipeline/sources/modbus/link.js';
import { modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/options.js';
import { ModbusSource } from '../../gateway/pipeline/sources/modbus/poller.js';
import { testDeps, waitUntil } from '../helpers/index.js';

test('modbus: a write queued behind a poll when the connection is lost is refused, not written after the reconnect', async (t) => {
  let open = false;
  let lost: ((reason: string) => void) | undefined;
  let reads = 0;
  const writes: number[] = [];
  /** The first read waits until the test ends it (a poll in flight). */
  let endFirstRead: ((err: Error) => void) | undefined;
  const link = {
    get isOpen() {
      return open;
    },
    describe: () => 'tcp://fake:502',
    interFrameMs: () => 0,
    open: async (onLost: (reason: string) => void) => {
      open = true;
      lost = onLost;
    },
    close: async () => {
      open = false;
    },
    read: (): Promise<ReadResult> => {
      reads++;
      if (reads === 1) return new Promise((_, reject) => (endFirstRead = reject));
      return Promise.resolve({ registers: Buffer.alloc(2) });
    },
    write: async (_unit: number, _area: string, address: number) => {
      writes.push(address);
      return { address, value: 7 };
    },
  } as unknown as ModbusLink; // test double: the poller's view of a link
  const intake: Intake = {
    submit: () => Promise.resolve(),
    commitMeta: () => Promise.resolve(),
    readMeta: () => Promise.resolve(undefined),
    accepting: () => true,
  };
  let command: ((topic: string, payload: Buffer) => void) | undefined;
  const replies: Array<{ ok: boolean; error?: string }> = [];
  const opts = modbusOptionsSchema.parse({
    type: 'modbus',
    name: 'm',
    tcp: { host: 'fake' },
    backoff: { initialMs: 10, maxMs: 20 },
    commands: { topic: 'plant/cmd' },
    devices: [{ name: 'd', groups: [{ name: 'g', intervalMs: 50, tags: [{ name: 'sp', area: 'holding', address: 4, writable: true }] }] }],
  });
  const source = new ModbusSource(opts, link, {
    ...testDeps(),
    dataDir: '/nonexistent',
    subscribe: (_filter, handler) => {
      command = handler;
      return () => undefined;
    },
    publish: (_topic, payload) => void replies.push(JSON.parse(payload.toString()) as { ok: boolean; error?: string }),
  });
  await source.start(intake);
  t.after(() => source.stop());
  await waitUntil(() => endFirstRead, 'a poll in flight');
  command?.('plant/cmd', Buffer.from(JSON.stringify({ device: 'd', tag: 'sp', value: 7, id: 1 })));
  assert.equal(replies.length, 0, 'queued (connected when it came)');
  // The connection drops before the write's turn.
  open = false;
  lost?.('closed by peer');
  endFirstRead?.(new ModbusRequestError('connection', 'closed by peer'));
  await waitUntil(() => replies.length === 1, 'the queued write answered');
  assert.equal(replies[0]!.ok, false);
  assert.match(replies[0]!.error ?? '', /connection .*lost/);
  await waitUntil(() => reads >= 3, 'polls again after the reconnect');
  assert.deepEqual(writes, [], 'the write was not sent after the reconnect');
});
