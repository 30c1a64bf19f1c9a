import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCodec } from '../../firmware-bridge/codecs/index.js';
import { isGatehouseError } from '../../core/errors.js';
import { compileTopic } from '../../firmware-bridge/topic.js';
import { parseTextReply, textReply } from '../../firmware-bridge/protocol.js';
import { SerialLinkOptionsSchema } from '../../firmware-bridge/options.js';

test('json: objects decode, payload bytes are reused; non-objects and bad JSON are GH_CODEC_INVALID', () => {
  const c = createCodec({ type: 'json' });
  const frame = Buffer.from('{"deviceId":"d1","t":21.5}');
  const obj = c.decode(frame);
  assert.deepEqual(obj, { deviceId: 'd1', t: 21.5 });
  assert.equal(c.toJson(frame, obj).toString(), frame.toString());
  for (const bad of ['[1,2]', '42', 'null', '{"a":', '\u00ff\u00fe']) {
    assert.throws(
      () => c.decode(Buffer.from(bad)),
      (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
      bad,
    );
  }
  assert.equal(c.encode({ led: 'on' }).toString(), '{"led":"on"}');
});

test('csv: configured columns, numbers parsed, wrong field count rejected, encode in column order', () => {
  const c = createCodec({ type: 'csv', columns: ['id', 't', 'h', 'note'], separator: ',', numbers: true });
  assert.deepEqual(c.decode(Buffer.from('d1, 21.5,-3,1e3x')), { id: 'd1', t: 21.5, h: -3, note: '1e3x' });
  assert.throws(
    () => c.decode(Buffer.from('a,b')),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.equal(c.encode({ t: 1, id: 'x', h: null }).toString(), 'x,1,,');
  const s = createCodec({ type: 'csv', columns: ['a', 'b'], separator: ';', numbers: false });
  assert.deepEqual(s.decode(Buffer.from('1;2')), { a: '1', b: '2' });
});

test('kv: any configured pair separator, numbers parsed, tokens without = rejected', () => {
  const c = createCodec({ type: 'kv', pairSeparators: ' ,;\t', kvSeparator: '=', numbers: true });
  assert.deepEqual(c.decode(Buffer.from('t=21.5 h=40,id=dev-1;;x=')), { t: 21.5, h: 40, id: 'dev-1', x: '' });
  assert.throws(
    () => c.decode(Buffer.from('t=1 oops')),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.throws(
    () => c.decode(Buffer.from('   ')),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.throws(
    () => c.decode(Buffer.from('=5')),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.equal(c.encode({ led: 'on', level: 3 }).toString(), 'led=on level=3');
  const colon = createCodec({ type: 'kv', pairSeparators: '&', kvSeparator: ':', numbers: true });
  assert.deepEqual(colon.decode(Buffer.from('a:1&b:x')), { a: 1, b: 'x' });
});

test('struct: every type in both byte orders, scale/offset, length checks, encode inverse', () => {
  const c = createCodec({
    type: 'struct',
    allowTrailing: false,
    fields: [
      { name: 'a', type: 'u8', endian: 'le' },
      { name: 'b', type: 'i8', endian: 'le' },
      { name: 'c', type: 'u16', endian: 'be' },
      { name: 'd', type: 'i16', endian: 'le', scale: 0.1 },
      { name: 'e', type: 'u32', endian: 'be' },
      { name: 'f', type: 'i32', endian: 'le', offset: -1000 },
      { name: 'g', type: 'f32', endian: 'be' },
      { name: 'h', type: 'f64', endian: 'le', scale: 2, offset: 1 },
    ],
  });
  const buf = Buffer.alloc(1 + 1 + 2 + 2 + 4 + 4 + 4 + 8);
  let o = 0;
  buf.writeUInt8(200, o++);
  buf.writeInt8(-5, o++);
  buf.writeUInt16BE(0xbeef, o);
  o += 2;
  buf.writeInt16LE(-215, o);
  o += 2;
  buf.writeUInt32BE(0xdeadbeef, o);
  o += 4;
  buf.writeInt32LE(1500, o);
  o += 4;
  buf.writeFloatBE(1.5, o);
  o += 4;
  buf.writeDoubleLE(10.25, o);
  const v = c.decode(buf);
  assert.equal(v.a, 200);
  assert.equal(v.b, -5);
  assert.equal(v.c, 0xbeef);
  assert.ok(Math.abs((v.d as number) + 21.5) < 1e-9);
  assert.equal(v.e, 0xdeadbeef);
  assert.equal(v.f, 500);
  assert.equal(v.g, 1.5);
  assert.equal(v.h, 21.5);
  assert.deepEqual(c.encode(v), buf);
  assert.throws(
    () => c.decode(buf.subarray(0, 10)),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.throws(
    () => c.decode(Buffer.concat([buf, Buffer.from([1])])),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.throws(
    () => c.encode({ ...v, a: 999 }),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
  assert.throws(
    () => c.encode({ ...v, a: 'x' }),
    (e) => isGatehouseError(e, 'GH_CODEC_INVALID'),
  );
});

test('codecs: fuzz: random bytes either decode or throw GatehouseError, never anything else', () => {
  let a = 99;
  const rnd = () => (a = (a * 1103515245 + 12345) >>> 0) / 4294967296;
  const codecs = [
    createCodec({ type: 'json' }),
    createCodec({ type: 'csv', columns: ['a', 'b'], separator: ',', numbers: true }),
    createCodec({ type: 'kv', pairSeparators: ' ,', kvSeparator: '=', numbers: true }),
    createCodec({ type: 'struct', allowTrailing: true, fields: [{ name: 'x', type: 'f32', endian: 'le' }] }),
  ];
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.allocUnsafe(Math.floor(rnd() * 20));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
    for (const c of codecs) {
      try {
        const v = c.decode(b);
        assert.equal(typeof v, 'object');
      } catch (e) {
        assert.ok(isGatehouseError(e, 'GH_CODEC_INVALID'), String(e));
      }
    }
  }
});

test('topic templates: {link}, fields, sanitising, fixed topics, subscription filters', () => {
  assert.equal(compileTopic('serial/{link}/telemetry', 'uart0').render({}), 'serial/uart0/telemetry');
  const t = compileTopic('devices/{deviceId}/telemetry', 'uart0');
  assert.equal(t.render({ deviceId: 'd-1' }), 'devices/d-1/telemetry');
  assert.equal(t.render({ deviceId: 'a/b+#' }), 'devices/a_b__/telemetry');
  assert.equal(t.render({}), 'devices/unknown/telemetry');
  assert.equal(t.render({ deviceId: 7 }), 'devices/7/telemetry');
  assert.equal(compileTopic('devices/{deviceId}/cmd', 'u').filter(), 'devices/+/cmd');
  assert.equal(compileTopic('{link}/dev-{id}/cmd', 'u').filter(), 'u/+/cmd');
  assert.throws(
    () => compileTopic('a/{oops', 'u'),
    (e) => isGatehouseError(e, 'GH_CONFIG_INVALID'),
  );
});

test('protocol text replies round-trip; other lines are not replies', () => {
  assert.deepEqual(parseTextReply(textReply(true, 42)), { ok: true, seq: 42 });
  assert.deepEqual(parseTextReply(textReply(false, 0)), { ok: false, seq: 0 });
  assert.equal(parseTextReply(Buffer.from('{"led":1}')), undefined);
  assert.equal(parseTextReply(Buffer.from('ACK x')), undefined);
});

test('options: defaults applied, bad values rejected', () => {
  const o = SerialLinkOptionsSchema.parse({ name: 'uart0', path: '/dev/ttyUSB0' });
  assert.equal(o.baudRate, 115200);
  assert.equal(o.dataBits, 8);
  assert.equal(o.parity, 'none');
  assert.equal(o.stopBits, 1);
  assert.deepEqual(o.framing, { type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 4096 });
  assert.deepEqual(o.codec, { type: 'json' });
  assert.equal(o.topic, 'serial/${link}/telemetry');
  assert.equal(o.ack.enabled, false);
  assert.deepEqual(o.reconnect, { initialMs: 500, maxMs: 10000, watchMs: 1000 });
  const c = SerialLinkOptionsSchema.parse({ name: 'u', path: '/x', framing: { type: 'cobs' }, codec: { type: 'csv', columns: ['a'] } });
  assert.deepEqual(c.framing, { type: 'cobs', maxFrameBytes: 4096 });
  assert.deepEqual(c.codec, { type: 'csv', columns: ['a'], separator: ',', numbers: true });
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'u', path: '/x', framing: { type: 'xmodem' } }).success, false);
  assert.equal(SerialLinkOptionsSchema.safeParse({ name: 'bad name', path: '/x' }).success, false);
});
