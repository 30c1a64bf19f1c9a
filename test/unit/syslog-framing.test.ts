// RFC 6587 framing of syslog streams (gateway/pipeline/sources/syslog/framing.ts), per message,
// over chunks split anywhere, and its bounds: what a lying or huge octet count does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyslogFramer, type Frame } from '../../gateway/pipeline/sources/syslog/framing.js';

/** Every frame of `input` fed in chunks of `size` bytes, and what end() gives. */
function frames(input: string | Buffer, size: number, max = 100): { frames: Frame[]; last: Frame | undefined } {
  const f = new SyslogFramer(max);
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const out: Frame[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(...f.push(buf.subarray(i, i + size)));
  return { frames: out, last: f.end() };
}
const texts = (fs: Frame[]) => fs.map((f) => f.bytes.toString());

test('octet counting and LF framing mixed on one stream, split at every byte or whole', () => {
  const input = '11 <13>1 hello\n<14>lf one\r\n\n11 <13>x\ny\nz 5\n<15>lf two\n';
  for (const size of [1, 2, 3, 7, input.length]) {
    const { frames: fs, last } = frames(input, size);
    assert.deepEqual(texts(fs), ['<13>1 hello', '<14>lf one', '<13>x\ny\nz 5', '<15>lf two'], `chunks of ${size}`);
    assert.deepEqual(
      fs.map((f) => f.framing),
      ['octet-counting', 'lf', 'octet-counting', 'lf'],
    );
    assert.equal(last, undefined);
  }
});

test('a message over maxBytes is cut and marked, and the next one read whole (both framings)', () => {
  const long = 'a'.repeat(250);
  const { frames: fs } = frames(`${long}\n<13>next\n250 ${long}<13>after\n`, 16, 100);
  assert.deepEqual(
    fs.map((f) => [f.bytes.length, f.truncated]),
    [
      [100, true],
      [8, false],
      [100, true],
      [9, false],
    ],
  );
  assert.equal(fs[3]!.bytes.toString(), '<13>after');
});

test('a count that is not one (letters after the digits, more than 10 digits) frames the message by LF', () => {
  const { frames: fs } = frames('12abc <13>x\n99999999999 <13>y\n', 4);
  assert.deepEqual(texts(fs), ['12abc <13>x', '99999999999 <13>y']);
  assert.ok(fs.every((f) => f.framing === 'lf'));
});

test('a count larger than what comes: the frame waits, swallowing what follows; end() gives what was read, truncated', () => {
  const { frames: fs, last } = frames('50 <13>short\n3 <14>\n', 5);
  assert.deepEqual(fs, []);
  assert.equal(last?.bytes.toString(), '<13>short\n3 <14>\n');
  assert.equal(last?.truncated, true);
});

test('a huge count (10 digits) keeps at most maxBytes in memory however much comes', () => {
  const f = new SyslogFramer(100);
  assert.deepEqual(f.push(Buffer.from('9999999999 ')), []);
  for (let i = 0; i < 64; i++) assert.deepEqual(f.push(Buffer.alloc(16 * 1024, 0x61)), []);
  assert.equal(f.begun, true);
  const last = f.end()!;
  assert.equal(last.bytes.length, 100);
  assert.equal(last.truncated, true);
});

test('a last LF-framed line without its LF is whole at the end; garbage bytes are an LF-framed message', () => {
  const { frames: fs, last } = frames(Buffer.from([0xff, 0x00, 0x01, 0x0a, 0x3c, 0x31]), 2);
  assert.deepEqual(
    fs.map((f) => [...f.bytes]),
    [[0xff, 0x00, 0x01]],
  );
  assert.deepEqual([...last!.bytes], [0x3c, 0x31]);
  assert.equal(last!.truncated, false);
});
