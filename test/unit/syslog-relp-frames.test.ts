// RELP framing (gateway/pipeline/sources/syslog/relp-frames.ts): the frames librelp sends (taken
// from a capture of rsyslog 8.2302's omrelp), split at every byte; the framing errors the spec
// says end a session; bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelpFrameError, RelpFramer, relpOffers, relpResponse } from '../../gateway/pipeline/sources/syslog/relp-frames.js';

// What omrelp (librelp 1.11) sent in one session: open with its offers, two messages, close.
const OPEN_DATA = 'relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog';
const MSG = '<13>2026-12-07T16:51:48.852273+00:00 vm root: hello relp 1';
const SESSION = `1 open ${OPEN_DATA.length} ${OPEN_DATA}\n2 syslog ${MSG.length} ${MSG}\n3 syslog 5 a\nb c\n4 close 0\n`;

test('a librelp session in one chunk and split at every byte gives the same four frames', () => {
  const whole = new RelpFramer(8192).push(Buffer.from(SESSION));
  assert.deepEqual(
    whole.map((f) => [f.txnr, f.command, f.data.toString(), f.truncated]),
    [
      [1, 'open', OPEN_DATA, false],
      [2, 'syslog', MSG, false],
      [3, 'syslog', 'a\nb c', false],
      [4, 'close', '', false],
    ],
  );
  const bytes = Buffer.from(SESSION);
  for (let cut = 1; cut < bytes.length; cut++) {
    const f = new RelpFramer(8192);
    const frames = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
    assert.deepEqual(
      frames.map((x) => [x.txnr, x.command, x.data.toString()]),
      whole.map((x) => [x.txnr, x.command, x.data.toString()]),
      `cut at ${cut}`,
    );
    assert.equal(f.begun, false);
  }
});

test('a frame longer than maxBytes keeps its first maxBytes, is marked truncated, and the next frame is read whole', () => {
  const big = 'x'.repeat(5000);
  const frames = new RelpFramer(1000).push(Buffer.from(`7 syslog ${big.length} ${big}\n8 syslog 2 ok\n`));
  assert.deepEqual(
    frames.map((f) => [f.txnr, f.data.length, f.truncated]),
    [
      [7, 1000, true],
      [8, 2, false],
    ],
  );
});

test('framing errors throw RelpFrameError (the session closes the connection), with what was wrong', () => {
  const bad = (text: string, re: RegExp) =>
    assert.throws(
      () => new RelpFramer(1000).push(Buffer.from(text)),
      (e: unknown) => e instanceof RelpFrameError && re.test(e.message),
      JSON.stringify(text),
    );
  bad('GET / HTTP/1.1\r\n', /not a RELP frame header/);
  bad('1 syslog 3 abcd\n', /not ended by LF after its 3 data bytes/);
  bad('1 syslog 0 x\n', /DATALEN 0 and a data part|not a RELP frame header/);
  bad('1 syslog 4\n', /DATALEN 4 and no data part/);
  bad(`1 ${'a'.repeat(40)} 1 x\n`, /not a RELP frame header/);
  bad(`1234567890 syslog 1 x\n`, /not a RELP frame header/);
  bad('\u0000\u0001\u0002', /not a RELP frame header/);
});

test('responses as librelp writes them; offers read from an open', () => {
  assert.equal(relpResponse(2, '200 OK').toString(), '2 rsp 6 200 OK\n');
  assert.equal(relpResponse(4, '').toString(), '4 rsp 0\n');
  assert.equal(relpResponse(1, '200 OK\nrelp_version=0').toString(), '1 rsp 21 200 OK\nrelp_version=0\n');
  assert.deepEqual(Object.fromEntries(relpOffers(Buffer.from(`\n${OPEN_DATA}`))), {
    relp_version: '0',
    relp_software: 'librelp,1.11.0,http://librelp.adiscon.com',
    commands: 'syslog',
  });
});
