import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFraming, crc16 } from '../../firmware-bridge/framing/index.js';
import type { FrameErrorReason, Framing } from '../../firmware-bridge/framing/index.js';
import type { FramingOptions } from '../../firmware-bridge/options.js';

const OPTS: Record<string, FramingOptions> = {
  line: { type: 'line', delimiter: '\n', stripCR: true, maxFrameBytes: 64 },
  crlf: { type: 'line', delimiter: '\r\n', stripCR: false, maxFrameBytes: 64 },
  cobs: { type: 'cobs', maxFrameBytes: 600 },
  slip: { type: 'slip', maxFrameBytes: 600 },
  crc: { type: 'crc', maxFrameBytes: 600 },
};

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function harness(framing: Framing) {
  const errors: FrameErrorReason[] = [];
  const dec = framing.createDecoder((r) => errors.push(r));
  const frames: string[] = [];
  return {
    errors,
    frames,
    dec,
    push(b: Buffer) {
      for (const f of dec.push(b)) frames.push(f.toString('hex'));
    },
  };
}

/** Feed bytes in random-sized chunks (1..n) to exercise frames split across reads. */
function pushChunked(h: ReturnType<typeof harness>, data: Buffer, rnd: () => number, n = 7): void {
  let i = 0;
  while (i < data.length) {
    const k = 1 + Math.floor(rnd() * n);
    h.push(data.subarray(i, i + k));
    i += k;
  }
}

test('crc16 is CRC-16/CCITT-FALSE (check value 0x29B1)', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x29b1);
  assert.equal(crc16(Buffer.alloc(0)), 0xffff);
});

for (const name of ['cobs', 'slip', 'crc'] as const) {
  test(`${name}: binary payloads round-trip, split at every chunk size`, () => {
    const f = createFraming(OPTS[name]!);
    const rnd = prng(42);
    const payloads: Buffer[] = [
      Buffer.from([0]),
      Buffer.from([0xc0, 0xdb, 0xdc, 0xdd, 0, 0xa5, 0x5a]),
      Buffer.alloc(254, 1),
      Buffer.alloc(255, 7),
      Buffer.alloc(600, 0),
    ];
    for (let i = 0; i < 50; i++) {
      const p = Buffer.allocUnsafe(1 + Math.floor(rnd() * 300));
      for (let j = 0; j < p.length; j++) p[j] = Math.floor(rnd() * 256);
      payloads.push(p);
    }
    const wire = Buffer.concat(payloads.map((p) => f.encode(p)));
    for (const n of [1, 3, 64, 100000]) {
      const h = harness(f);
      pushChunked(h, wire, rnd, n);
      assert.deepEqual(
        h.frames,
        payloads.map((p) => p.toString('hex')),
        `chunk size ${n}`,
      );
      assert.deepEqual(h.errors, []);
    }
  });
}

test('line: frames, CRLF stripping, empty lines skipped, multi-byte delimiter split across chunks', () => {
  const h = harness(createFraming(OPTS.line!));
  h.push(Buffer.from('a=1\r\n\nb'));
  h.push(Buffer.from('=2\n'));
  assert.deepEqual(
    h.frames.map((x) => Buffer.from(x, 'hex').toString()),
    ['a=1', 'b=2'],
  );
  const h2 = harness(createFraming(OPTS.crlf!));
  h2.push(Buffer.from('one\r'));
  h2.push(Buffer.from('\ntwo\r\n'));
  assert.deepEqual(
    h2.frames.map((x) => Buffer.from(x, 'hex').toString()),
    ['one', 'two'],
  );
});

test('line: an overlong line is counted once, dropped up to the next delimiter, and the next line arrives', () => {
  const h = harness(createFraming(OPTS.line!));
  h.push(Buffer.alloc(50, 0x41));
  h.push(Buffer.alloc(50, 0x41));
  h.push(Buffer.alloc(50, 0x41));
  assert.ok(h.dec.buffered <= 64 + 1, 'buffer stays bounded');
  h.push(Buffer.from('AAA\nok\n'));
  assert.deepEqual(h.errors, ['overlong']);
  assert.deepEqual(
    h.frames.map((x) => Buffer.from(x, 'hex').toString()),
    ['ok'],
  );
});

test('line: a partial line is dropped as truncated by flush()', () => {
  const h = harness(createFraming(OPTS.line!));
  h.push(Buffer.from('half'));
  assert.deepEqual(h.dec.flush(), []);
  h.push(Buffer.from('full\n'));
  assert.deepEqual(h.errors, ['truncated']);
  assert.deepEqual(
    h.frames.map((x) => Buffer.from(x, 'hex').toString()),
    ['full'],
  );
});

test('crc: bad CRC, impossible length and junk are counted and the next frame is found', () => {
  const f = createFraming(OPTS.crc!);
  const good = f.encode(Buffer.from('good'));
  const bad = Buffer.from(f.encode(Buffer.from('bad!')));
  bad[5]! ^= 0xff;
  const overlong = Buffer.from([0xa5, 0x5a, 0xff, 0xff, 1, 2, 3]);
  const h = harness(f);
  h.push(Buffer.concat([Buffer.from('noise'), bad, overlong, good]));
  assert.deepEqual(h.frames, [Buffer.from('good').toString('hex')]);
  assert.ok(h.errors.includes('crc'));
  assert.ok(h.errors.includes('overlong'));
});

test('crc: a truncated frame that swallowed the next one is recovered by resync (bad CRC) and by flush()', () => {
  const f = createFraming(OPTS.crc!);
  const truncated = f.encode(Buffer.alloc(100, 9)).subarray(0, 30);
  const good = f.encode(Buffer.from('after'));
  const h = harness(f);
  h.push(Buffer.concat([truncated, good]));
  assert.deepEqual(h.frames, [], 'waits: the truncated length covers the good frame');
  const recovered = h.dec.flush();
  assert.deepEqual(
    recovered.map((b) => b.toString()),
    ['after'],
  );
  assert.ok(h.errors.includes('truncated'));
});

test('slip: bad escape is counted and the decoder resyncs at the next END', () => {
  const f = createFraming(OPTS.slip!);
  const h = harness(f);
  h.push(Buffer.concat([Buffer.from([0xc0, 1, 2, 0xdb, 0x33, 4, 0xc0]), f.encode(Buffer.from('ok'))]));
  assert.deepEqual(h.errors, ['bad-escape']);
  assert.deepEqual(h.frames, [Buffer.from('ok').toString('hex')]);
});

test('cobs: invalid code bytes are counted, overlong frames dropped, next frame arrives', () => {
  const f = createFraming({ type: 'cobs', maxFrameBytes: 16 });
  const h = harness(f);
  h.push(Buffer.from([0x05, 1, 2, 0])); // code says 4 bytes follow, only 2 do
  h.push(Buffer.concat([Buffer.alloc(40, 1), Buffer.from([0])]));
  h.push(f.encode(Buffer.from('ok')));
  assert.deepEqual(h.errors, ['bad-encoding', 'overlong']);
  assert.deepEqual(h.frames, [Buffer.from('ok').toString('hex')]);
});

for (const name of Object.keys(OPTS)) {
  test(`${name}: fuzz: random garbage never throws, stays bounded, and valid frames after garbage still decode`, () => {
    const f = createFraming(OPTS[name]!);
    const rnd = prng(1234 + name.length);
    const h = harness(f);
    let validSent = 0;
    const expected: string[] = [];
    for (let round = 0; round < 300; round++) {
      const junk = Buffer.allocUnsafe(Math.floor(rnd() * 200));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rnd() * 256);
      pushChunked(h, junk, rnd, 50);
      assert.ok(h.dec.buffered <= 700, `bounded buffer (${h.dec.buffered})`);
      // Resync point: line framings need a delimiter after garbage; others resync by themselves.
      if (name === 'line' || name === 'crlf') h.push(Buffer.from(name === 'line' ? '\n' : '\r\n'));
      if (name === 'crc') h.dec.flush();
      const before = h.frames.length;
      const payload = Buffer.from(`valid-${round}`);
      h.push(f.encode(payload));
      validSent++;
      if (h.frames.length > before && h.frames[h.frames.length - 1] === payload.toString('hex')) expected.push(payload.toString());
    }
    // cobs/slip/line: every valid frame arrives (leading delimiter / delimiter after junk).
    // crc: a random 0xA5 0x5A + length in junk may hold a later frame until the next flush; most arrive.
    const min = name === 'crc' ? validSent * 0.9 : validSent;
    assert.ok(expected.length >= min, `${expected.length}/${validSent} valid frames decoded`);
    assert.ok(h.errors.length > 0, 'garbage was counted');
  });
}
