// The MQTT source's packet size guard (core/mqtt-size-guard.ts) on the bytes a
// broker sends: a PUBLISH bigger than the bound reaches the parser cut to its topic and packet id
// (MQTT 3.1.1 and 5) while holding no more than a header and a topic, whatever the chunking; every
// other packet passes byte for byte; a malformed header is passed on for the parser to fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import type { IPublishPacket } from 'mqtt';
import { PacketSizeGuard, SizeLimit } from '../../core/mqtt-size-guard.js';

const MAX_PACKET = 1024;

function publish(topic: string, payload: Buffer, qos: 0 | 1 | 2, messageId: number, protocolVersion: 4 | 5): Buffer {
  const p: mqttPacket.IPublishPacket = { cmd: 'publish', topic, payload, qos, dup: false, retain: false, messageId };
  if (protocolVersion === 5) p.properties = { userProperties: { a: 'b' } };
  return mqttPacket.generate(p, { protocolVersion });
}

/** Run `chunks` through a guard; returns its output and the most it held. */
async function guard(chunks: Iterable<Buffer>, protocolVersion: 4 | 5, nonce = Buffer.alloc(16, 7)): Promise<{ out: Buffer; peakHeld: number }> {
  const g = new PacketSizeGuard(MAX_PACKET, protocolVersion, nonce);
  const parts: Buffer[] = [];
  g.on('data', (b: Buffer) => parts.push(b));
  for (const c of chunks) g.write(c);
  g.end();
  await once(g, 'end');
  return { out: Buffer.concat(parts), peakHeld: g.peakHeld };
}

function parseAll(bytes: Buffer, protocolVersion: 4 | 5): mqttPacket.Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const got: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => got.push(p));
  parser.on('error', (e) => got.push({ cmd: 'error', message: e.message } as unknown as mqttPacket.Packet));
  parser.parse(bytes);
  return got;
}

function chunked(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

for (const protocolVersion of [4, 5] as const) {
  test(`size guard (MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}): a big PUBLISH between small ones is cut to its topic and id, the others pass unchanged, at any chunking`, async () => {
    const small1 = publish('cmd/a', Buffer.from('one'), 1, 1, protocolVersion);
    const big = publish('cmd/big', Buffer.alloc(50_000, 1), 1, 2, protocolVersion);
    const small2 = publish('cmd/b', Buffer.from('two'), 0, 0, protocolVersion);
    const ping = mqttPacket.generate({ cmd: 'pingresp' });
    const atLimit = publish('cmd/c', Buffer.alloc(MAX_PACKET - 30, 2), 1, 3, protocolVersion);
    const all = Buffer.concat([small1, ping, big, small2, atLimit]);
    const nonce = Buffer.alloc(16, 9);
    for (const size of [1, 3, 7, 100, 4096, all.length]) {
      const { out, peakHeld } = await guard(chunked(all, size), protocolVersion, nonce);
      const got = parseAll(out, protocolVersion) as IPublishPacket[];
      assert.deepEqual(
        got.map((p) => (p.cmd === 'publish' ? [p.cmd, p.topic, p.messageId, p.qos] : [p.cmd])),
        [['publish', 'cmd/a', 1, 1], ['pingresp'], ['publish', 'cmd/big', 2, 1], ['publish', 'cmd/b', undefined, 0], ['publish', 'cmd/c', 3, 1]],
        `chunks of ${size}`,
      );
      assert.equal(Buffer.compare(out.subarray(0, small1.length + ping.length), Buffer.concat([small1, ping])), 0);
      assert.equal(Buffer.compare(out.subarray(out.length - small2.length - atLimit.length), Buffer.concat([small2, atLimit])), 0);
      const cut = got[2]!.payload as Buffer;
      assert.equal(Buffer.compare(cut.subarray(0, 16), nonce), 0, 'the marker');
      assert.equal(Number(cut.readBigUInt64BE(16)), big.length, 'the original packet size');
      assert.ok(peakHeld < 64, `held ${peakHeld} bytes`);
      // SizeLimit reads the marker of a guard with its own nonce only.
      assert.equal(new SizeLimit(MAX_PACKET, protocolVersion).tooLarge(got[2]!), undefined);
    }
  });
}

test('size guard: a PUBLISH announcing 100 MB holds only its header and topic, however the bytes come', async () => {
  const topic = 't'.repeat(60_000);
  const head = Buffer.concat([Buffer.from([0x32, 0xff, 0xff, 0xff, 0x2f]), Buffer.from([0xea, 0x60]), Buffer.from(topic), Buffer.from([0, 5])]);
  const body = Buffer.alloc(1 << 20);
  const total = 0x2f * 128 ** 3 + 127 * 128 ** 2 + 127 * 128 + 127;
  function* bytes(): Generator<Buffer> {
    yield head;
    for (let sent = head.length - 5; sent < total; sent += body.length) yield body.subarray(0, Math.min(body.length, total - sent));
  }
  const { out, peakHeld } = await guard(bytes(), 4);
  assert.ok(out.length < topic.length + 64, `${out.length} bytes out`);
  assert.ok(peakHeld <= head.length, `held ${peakHeld}`);
  const [p] = parseAll(out, 4) as IPublishPacket[];
  assert.equal(p!.topic, topic);
  assert.equal(p!.messageId, 5);
});

test('size guard: a malformed length (five bytes) is passed on unchanged, and the parser fails it', async () => {
  const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]);
  const { out } = await guard([bad], 4);
  assert.equal(Buffer.compare(out, bad), 0);
  assert.equal(parseAll(out, 4)[0]!.cmd, 'error' as never);
});
