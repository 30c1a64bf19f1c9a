// An exporter whose destination is down for hours fails a send every few seconds (backoff capped
// at outageMaxMs): each failure is in the status and the metrics, but the log gets the first at
// once and then one line a minute with how many were suppressed (the chaos soak's 8-minute runs
// logged 538-1,128 'export error' warnings; on an SD card the log is a disk write). Real parts: a
// real store and exporter, an http destination at a port nothing listens on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { freePort, testDeps, waitUntil } from '../helpers/index.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';

test('a destination that stays down: every failed send counted, one export error logged (then one a minute)', async (t) => {
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) warnings.push((JSON.parse(line) as { msg: string }).msg);
        cb();
      },
    }),
  );
  const streams = await openStreams(t);
  await append(streams, 3);
  const port = await freePort(t); // nothing listens there
  const exporter = await startExporter(t, streams, { type: 'http', url: `http://127.0.0.1:${port}/`, timeoutMs: 500 }, { ...testDeps(), logger });
  await waitUntil(() => exporter.status().retries >= 3 * 6 || undefined, 'six failed sends', 15_000);
  assert.match(exporter.status().lastError?.message ?? '', /ECONNREFUSED|connect/i);
  assert.equal(warnings.filter((m) => m === 'export error').length, 1, `one warning for the run of failures: ${JSON.stringify(warnings)}`);
});
