// `gatehouse status` prints rates as the status page shows them, not as raw floats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeHost, describeStatus, fmtRate } from '../../gateway/cli/status.js';

test('gatehouse status prints the ingest and export rates rounded, as the status page does', () => {
  const lines = describeStatus({
    gatewayId: 'site-1',
    version: '0.1.0',
    health: { ok: true, status: 'ok', uptimeSeconds: 5 },
    current: { in: 1234.5678, out: 1.9899911385794096 },
  });
  // Before: "ingest 1234.5678 msgs/s, export 1.9899911385794096 records/s".
  assert.match(lines[1]!, /^ {2}ingest 1,235 msgs\/s, export 1\.99 records\/s;/);
  assert.deepEqual([0, 0.333333, 2.5, 12.345, 99.96, 100.4].map(fmtRate), ['0', '0.33', '2.5', '12.3', '100', '100']);
});

test('gatehouse status while the start waits for disk space counts its attempts in words', () => {
  const waiting = (attempts: number) =>
    describeStatus({
      gatewayId: 'site-1',
      version: '0.1.0',
      health: { ok: false, status: 'starting' },
      starting: { state: 'waiting-for-disk', waitingFor: 'free disk space to open the store', since: '2026-12-04T22:10:05.120Z', attempts },
    })[0]!;
  assert.match(waiting(1), /\(1 attempt\)$/); // before: '(1 attempts)'
  assert.match(waiting(3), /\(3 attempts\)$/);
});

test('the host line says what a pressure stall figure is: the share of the last minute tasks waited', () => {
  const line = describeHost({
    memory: { totalBytes: 4 * 1024 ** 3, availableBytes: 3 * 1024 ** 3 },
    pressure: { cpu: { someAvg60: 41.666, fullAvg60: 0 }, memory: { someAvg60: 0.2, fullAvg60: 0 }, io: { someAvg60: 3, fullAvg60: 1 } },
  });
  // Before: "stalled over the last minute: cpu 41.666%, io 3%", read as the gateway standing still.
  assert.equal(
    line,
    '  host: memory 3.0 GiB of 4.0 GiB available; time tasks waited for cpu 41.7%, io 3% over the last minute (pressure stall, docs/monitoring.md)',
  );
});
