// Round-13 audit: a device that does not speak acknowledged mode on a link that expects it. Every
// frame then fails the 3-byte header check and is lost; the error must point at that mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createSerialLink } from '../../firmware-bridge/link.js';
import { crcEncode } from '../../firmware-bridge/framing/crc-frame.js';
import { simulatorLinkOptions } from '../../firmware-bridge/simulator.js';
import { testDeps, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('serial ack, header mode: frames without the header (device not in acknowledged mode) name the likely cause', { skip: socatSkip }, async (t) => {
  const pair = await startSocat(t);
  const link = createSerialLink(simulatorLinkOptions('hdr', pair.dev1, 'crc', 'json', true), { ...testDeps(), onMessage: () => undefined });
  await link.start();
  t.after(() => link.stop());
  const dev = await open(pair.dev0, 'r+');
  t.after(() => dev.close());
  // What a device without acknowledged mode sends: the JSON payload alone, '{' taken as the kind.
  await dev.write(crcEncode(Buffer.from('{"seq":1,"t":2}')));
  await waitUntil(() => link.status().decodeErrors === 1, 'frame refused');
  const e = link.status().lastError ?? '';
  assert.match(e, /unknown kind 0x7b/);
  assert.match(e, /ack\.enabled/, e);
});
