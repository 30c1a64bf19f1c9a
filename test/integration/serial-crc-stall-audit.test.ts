// Round-13 audit: crc framing after line noise that looks like a frame header with a large length.
// The decoder waits for that many bytes; a device sending small frames steadily never leaves the
// idle gap that ends a partial frame, so its frames were held back until ~maxFrameBytes of traffic
// had arrived (minutes on a slow device). A held frame that cannot still be arriving at the link's
// baud rate (plus frameTimeoutMs) is now given up, and the frames behind it are found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { crcEncode } from '../../firmware-bridge/framing/crc-frame.js';
import { metricValue, testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial crc: a bogus long frame header does not hold back a steady stream of frames until maxFrameBytes arrive', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const deps = testDeps();
  const got: number[] = [];
  const link = createSerialLink(
    { name: 'noisy', path: pair.dev1, baudRate: 115200, framing: { type: 'crc' }, codec: { type: 'json' }, frameTimeoutMs: 200, reconnect: { watchMs: 50 } },
    {
      ...deps,
      onMessage: (m) => {
        got.push((JSON.parse(m.payload.toString()) as { n: number }).n);
        return undefined;
      },
    },
  );
  await link.start();
  t.after(() => link.stop());
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  // Noise: magic and a length of 4095 (the default maxFrameBytes is 4096, so it is plausible).
  await dev.write(Buffer.from([0xa5, 0x5a, 0x0f, 0xff]));
  // The device: a ~20-byte frame every 40 ms (500 B/s), never idle for frameTimeoutMs. At that rate
  // the 4101 bytes the header claims take ~8 s; at 115200 baud they'd be on the wire in ~0.36 s.
  let n = 0;
  const sender = setInterval(() => void dev.write(crcEncode(Buffer.from(`{"n":${n++}}`))), 40);
  t.after(() => clearInterval(sender));
  await waitUntil(() => got.length > 0, 'first frame behind the bogus header', 3000);
  clearInterval(sender);
  assert.equal(got[0], 0, 'the frames behind the noise are found, from the first');
  assert.equal(await metricValue(deps.registry, 'gatehouse_serial_frame_errors_total', { link: 'noisy', reason: 'truncated' }), 1);
});
