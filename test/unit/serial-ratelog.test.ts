import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Writable } from 'node:stream';
import { RateLimitedLog } from '../../firmware-bridge/rate-log.js';

test('rate-limited log: at most max lines per interval, then one summary of the suppressed count', () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  let now = 0;
  const log = new RateLimitedLog(pino({ level: 'warn' }, sink), 3, 1000, { link: 'u' }, () => now);
  for (let i = 0; i < 100; i++) log.warn({ i }, 'broken frame');
  now = 1500;
  log.warn({ i: 100 }, 'broken frame');
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      assert.equal(lines.filter((l) => l.msg === 'broken frame').length, 4);
      const summary = lines.find((l) => l.suppressed !== undefined);
      assert.equal(summary?.suppressed, 97);
      assert.equal(summary?.link, 'u');
      resolve();
    }),
  );
});
