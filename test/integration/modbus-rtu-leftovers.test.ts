// Modbus RTU over a socat pty pair with a raw device (test/helpers/modbus-raw.ts) whose answers
// leave bytes on the line that no request takes: an answer sent twice in one burst (a repeater, a
// converter or a firmware bug on the bus), an answer that follows noise the master took for a
// damaged answer. Such a frame is whole, with a good CRC: it must never be taken for the answer to
// the next request of the same unit, function and length (found by fuzzing: fuzz-modbus.test.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import { waitUntil, withTimeout } from '../helpers/index.js';
import { sourceDeps, storeIntake } from '../helpers/industrial.js';
import { rtuOptions, startModbus, valuesOf } from '../helpers/modbus-source.js';
import { crc16, rawRtuDevice, registerValue, type Hostile } from '../helpers/modbus-raw.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

/** A source polling holding 0 and holding 10 of unit 1 in one group (two requests of one length) behind `hostile`: the values each tag stored. */
async function pollThrough(t: TestContext, hostile: Hostile, polls: number): Promise<{ h0: unknown[]; h10: unknown[] }> {
  const cable = await startSocat(t);
  const dev = await rawRtuDevice(t, cable.dev0);
  dev.hostile = hostile;
  const intake = await storeIntake(t);
  await startModbus(
    t,
    rtuOptions('bus', cable.dev1, {
      timeoutMs: 200,
      retries: 0,
      devices: [
        {
          name: 'd',
          groups: [
            {
              name: 'a',
              intervalMs: 20,
              tags: [
                { name: 'h0', area: 'holding', address: 0 },
                { name: 'h10', area: 'holding', address: 10 },
              ],
            },
          ],
        },
      ],
    }),
    intake,
  );
  const values = (tag: string): Promise<unknown[]> => valuesOf(intake, `modbus/bus/d/${tag}`);
  await waitUntil(async () => (await values('h10')).length >= polls, `${polls} polls of the group`, 20_000);
  return { h0: await values('h0'), h10: await values('h10') };
}

const readsHolding0 = (req: Buffer): boolean => req[1] === 3 && req.readUInt16BE(2) === 0;

test('an RTU answer sent twice in one burst is never taken for the answer to the next request', { skip: socatSkip }, async (t) => {
  let doubled = 0;
  const { h0, h10 } = await pollThrough(
    t,
    (req, _tid, right) => {
      if (!readsHolding0(req)) return { chunks: [{ bytes: right, delayMs: 0 }] };
      doubled++;
      return { chunks: [{ bytes: Buffer.concat([right, right]), delayMs: 0 }] };
    },
    30,
  );
  assert.ok(doubled >= 30, `${doubled} answers sent twice`);
  assert.deepEqual([...new Set(h0)], [registerValue(1, 0)], 'h0 only ever reads holding 0');
  assert.deepEqual([...new Set(h10)], [registerValue(1, 10)], "h10 only ever reads holding 10 (never the second copy of holding 0's answer)");
});

test('an RTU answer that follows noise taken for a damaged answer is never taken for the answer to the next request', { skip: socatSkip }, async (t) => {
  // Noise of an answer's length that starts as one (unit 1, function 3): the library reads it as
  // holding 0's answer with a bad CRC; the real answer follows 10 ms later, well within the timeout.
  // The device takes 30 ms to answer holding 10 (it is still busy with holding 0 when that request comes).
  const noise = Buffer.from([1, 3, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.notEqual(crc16(noise.subarray(0, 5)), noise.readUInt16LE(5), 'the noise is no frame');
  let noisy = 0;
  const { h10 } = await pollThrough(
    t,
    (req, _tid, right) => {
      if (!readsHolding0(req)) return { chunks: [{ bytes: right, delayMs: 30 }] };
      noisy++;
      return {
        chunks: [
          { bytes: noise, delayMs: 0 },
          { bytes: right, delayMs: 10 },
        ],
      };
    },
    15,
  );
  assert.ok(noisy >= 15, `${noisy} answers after noise`);
  assert.deepEqual([...new Set(h10)], [registerValue(1, 10)], "h10 only ever reads holding 10 (never holding 0's answer that came after the noise)");
});

test('a line that never falls silent (noise every 2 ms) delays each request by at most a timeout: polling goes on, stop() returns', {
  skip: socatSkip,
}, async (t) => {
  const cable = await startSocat(t);
  const dev = await rawRtuDevice(t, cable.dev0);
  dev.hostile = () => ({ chunks: [] }); // no answers: only the noise
  const noise = setInterval(() => dev.write(Buffer.from([0xff])), 2);
  t.after(() => clearInterval(noise));
  const intake = await storeIntake(t);
  const source = await modbusKind.create(
    modbusOptionsSchema.parse(
      // 300 baud: a frame ends after 129 ms of silence, which the noise never leaves
      rtuOptions(
        'bus',
        cable.dev1,
        {
          timeoutMs: 100,
          retries: 0,
          backoff: { initialMs: 10, maxMs: 10 },
          devices: [{ name: 'd', groups: [{ name: 'a', intervalMs: 10, tags: [{ name: 'h0', area: 'holding', address: 0 }] }] }],
        },
        300,
      ),
    ),
    sourceDeps(t),
  );
  await source.start(intake);
  t.after(() => withTimeout(source.stop(), 3000, 'stop()').catch(() => undefined));
  const before = dev.requests;
  await waitUntil(() => dev.requests >= before + 5, 'five more requests through the noise', 10_000);
  await withTimeout(source.stop(), 2000, 'stop() returns on a noisy line');
});
