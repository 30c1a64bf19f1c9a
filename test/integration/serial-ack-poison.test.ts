// Acknowledged mode, frames that must not be stored: a field-mode frame without a valid sequence
// number, header-mode frames that are not DATA or too short for their header. Real parts: a socat
// pty pair as the cable; the "device" is a raw serial port writing hand-made frames on the other end.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SerialPort } from 'serialport';
import { hangUpAware } from '../../core/serial-binding.js';
import { createSerialLink, type SerialLinkOptionsInput } from '../../firmware-bridge/index.js';
import { createFraming, crcEncode } from '../../firmware-bridge/framing/index.js';
import type { Message } from '../../core/message.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

interface RawDevice {
  write(b: Buffer): Promise<void>;
  received(): Buffer;
}

async function rawDevice(t: TestContext, path: string): Promise<RawDevice> {
  const port = new SerialPort(hangUpAware({ path, baudRate: 115200, autoOpen: false }));
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  t.after(() => (port.isOpen ? new Promise<void>((r) => port.close(() => r())) : undefined));
  port.on('error', () => undefined);
  let got = Buffer.alloc(0);
  port.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
  });
  return {
    write: (b) => new Promise<void>((resolve, reject) => port.write(b, (err) => (err ? reject(err) : port.drain(() => resolve())))),
    received: () => got,
  };
}

/** A link whose warnings are kept (parsed JSON lines) and whose messages are collected. */
function linkUnderTest(options: SerialLinkOptionsInput) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry();
  const msgs: Message[] = [];
  const link = createSerialLink(
    { ...options, errorLog: { max: 100, intervalMs: 60000 } },
    {
      logger: pino({ level: 'warn' }, sink),
      registry,
      onMessage: (m) => {
        msgs.push(m);
        return undefined;
      },
    },
  );
  return { link, lines, registry, msgs };
}

test('serial ack, field mode: a frame without a valid seq is a decode error: not stored, not answered, counted once, also when resent', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const u = linkUnderTest({ name: 'fm', path: pair.dev1, framing: { type: 'line' }, codec: { type: 'json' }, ack: { enabled: true } });
  await u.link.start();
  t.after(() => u.link.stop());
  const dev = await rawDevice(t, pair.dev0);
  const bad = [
    '{"t":2}',
    '{"seq":-3,"t":3}',
    '{"seq":"4","t":4}',
    '{"seq":1.5,"t":5}',
    '{"seq":null}',
    // Beyond 2^53-1 JSON numbers are rounded: the ACK would name a number the device never sent.
    '{"seq":99999999999999999999,"t":6}',
    '{"seq":9007199254740992}',
    // A device resending an unanswered frame: each copy is refused again, none is stored.
    '{"seq":-3,"t":3}',
    '{"seq":-3,"t":3}',
    '{"seq":-3,"t":3}',
  ];
  await dev.write(Buffer.from(`${bad.join('\n')}\n{"seq":9007199254740991,"t":7}\n{"seq":1,"t":1}\n`));
  // Frames are handled in order and these ACKs go out at once: when ACK 1 is in, every frame was seen.
  await waitUntil(() => dev.received().toString().endsWith('ACK 1\n'), `ACK 1 (got ${JSON.stringify(dev.received().toString())})`, 5000);
  assert.equal(dev.received().toString(), 'ACK 9007199254740991\nACK 1\n', 'only the frames with a valid seq are answered');
  assert.deepEqual(
    u.msgs.map((m) => m.payload.toString()),
    ['{"seq":9007199254740991,"t":7}', '{"seq":1,"t":1}'],
  );
  const st = u.link.status();
  assert.equal(st.framesIn, 2, 'decoded: only the stored frames');
  assert.equal(st.decodeErrors, bad.length, 'decode errors: each refused frame once');
  assert.equal(await metricValue(u.registry, 'gatehouse_serial_frames_in_total', { link: 'fm' }), 2);
  assert.equal(await metricValue(u.registry, 'gatehouse_serial_decode_errors_total', { link: 'fm' }), bad.length);
  const warned = u.lines.filter((l) => l.msg === 'serial frame did not decode');
  assert.equal(warned.length, bad.length);
  for (const l of warned) {
    assert.equal(l.code, 'GH_CODEC_INVALID');
    assert.match(String(l.detail), /without a valid 'seq' field/);
  }
});

test('serial ack, header mode: short, empty and non-DATA frames are decode errors with their own message; one of unknown kind is ACKed, gateway kinds are not answered', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const u = linkUnderTest({ name: 'hm', path: pair.dev1, framing: { type: 'crc' }, codec: { type: 'json' }, ack: { enabled: true } });
  await u.link.start();
  t.after(() => u.link.stop());
  const dev = await rawDevice(t, pair.dev0);
  const frames = [
    Buffer.from([0x44, 0x00]), // DATA, too short for its header
    Buffer.alloc(0), // empty payload
    Buffer.concat([Buffer.from([0x5a, 0x00, 0x0b]), Buffer.from('{"t":2}')]), // unknown kind 'Z', seq 11
    Buffer.from([0x06, 0x00, 0x05]), // an ACK (what an echoing line returns): never answered
    Buffer.concat([Buffer.from([0x44, 0x00, 0x08]), Buffer.from('{"t":')]), // DATA seq 8, bad JSON
    Buffer.concat([Buffer.from([0x44, 0x00, 0x0c]), Buffer.from('{"t":3}')]), // DATA seq 12
  ];
  await dev.write(Buffer.concat(frames.map(crcEncode)));
  const replies = (): string[] =>
    createFraming({ type: 'crc', maxFrameBytes: 4096 })
      .createDecoder(() => undefined)
      .push(dev.received())
      .map((f) => f.toString('hex'));
  await waitUntil(() => replies().includes('06000c'), `ACK 12 (got ${replies().join(' ')})`, 5000);
  assert.deepEqual(replies(), ['06000b', '060008', '06000c'], 'ACK 11 (unknown kind), ACK 8 (bad payload), ACK 12 (stored)');
  assert.deepEqual(
    u.msgs.map((m) => m.payload.toString()),
    ['{"t":3}'],
  );
  const st = u.link.status();
  assert.equal(st.framesIn, 1);
  assert.equal(st.decodeErrors, 5);
  const warned = u.lines.filter((l) => l.msg === 'serial frame did not decode');
  assert.deepEqual(
    warned.map((l) => l.code),
    ['GH_CODEC_INVALID', 'GH_CODEC_INVALID', 'GH_CODEC_INVALID', 'GH_CODEC_INVALID', 'GH_CODEC_INVALID'],
  );
  const details = warned.map((l) => String(l.detail));
  assert.match(details[0]!, /^DATA frame of 2 byte\(s\), shorter than the 3-byte header/);
  assert.match(details[1]!, /^empty frame/);
  assert.match(details[2]!, /^frame of unknown kind 0x5a \(seq 11\)/);
  assert.match(details[3]!, /^ACK frame \(kind 0x06, seq 5\) from the device/);
  assert.match(details[4]!, /^json codec: frame is not valid JSON: /, "the code is the line's own field, not said again in its detail");
  assert.deepEqual(
    warned.map((l) => l.seq),
    [undefined, undefined, 11, undefined, 8],
  );
});
