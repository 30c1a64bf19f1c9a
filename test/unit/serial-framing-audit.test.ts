// Round-13 audit of the delimiter framing: a multi-byte delimiter split across two reads while an
// overlong line is being discarded must still end that line, not swallow the next one unseen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFraming } from '../../firmware-bridge/framing/index.js';

test('line framing, "\\r\\n": an overlong line whose delimiter is split across reads ends there; the next line arrives', () => {
  const errors: string[] = [];
  const d = createFraming({ type: 'line', delimiter: '\r\n', stripCR: false, maxFrameBytes: 8 }).createDecoder((reason) => errors.push(reason));
  const out: string[] = [];
  for (const chunk of ['x'.repeat(20), 'x'.repeat(5), '\r', '\n{"n":2}\r\n']) for (const f of d.push(Buffer.from(chunk))) out.push(f.toString());
  assert.deepEqual(out, ['{"n":2}']);
  assert.deepEqual(errors, ['overlong']);
});

test('line framing, "\\r\\n": a delimiter split across reads right after a pending line still ends it', () => {
  const d = createFraming({ type: 'line', delimiter: '\r\n', stripCR: false, maxFrameBytes: 64 }).createDecoder(() => assert.fail('no error expected'));
  const out: string[] = [];
  for (const chunk of ['{"n":1}\r', '\n{"n":2}\r', '\n']) for (const f of d.push(Buffer.from(chunk))) out.push(f.toString());
  assert.deepEqual(out, ['{"n":1}', '{"n":2}']);
});
