// `gatehouse simulate serial` argument checks found by the round-13 audit: a number option given a
// value that is not a number must be refused (exit 2), not silently replaced by its default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulateSerial } from '../../gateway/cli/simulate-serial.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { createSimulatedDevice } from '../../firmware-bridge/simulator.js';
import { waitUntil } from '../helpers/index.js';
import { SerialPort } from 'serialport';
import { socatSkip, startSocat } from '../helpers/socat.js';

test('simulate serial: --baud, --ack-timeout and --rate that are not usable numbers exit 2 with GH_ARG_INVALID naming the option', async () => {
  for (const [opt, value] of [
    ['--baud', 'abc'],
    ['--baud', '0'],
    ['--baud', '9600.5'],
    ['--ack-timeout', 'abc'],
    ['--ack-timeout', '0'],
    ['--ack-timeout', '-5'],
    ['--rate', 'Infinity'],
  ] as const) {
    // A path that doesn't exist: a run that wrongly starts would retry opening it, not exit 2.
    const e = await runCaptured(runSimulateSerial, ['--port', '/nonexistent/gatehouse-audit-tty', opt, value, '--count', '1']);
    assert.equal(e.code, 2, `${opt} ${value}: exit code`);
    assert.match(e.err, /GH_ARG_INVALID/, `${opt} ${value}`);
    assert.ok(e.err.includes(opt), `${opt} ${value}: the message names the option: ${e.err}`);
  }
});

test('simulated device: a port that cannot be opened is reported once, not on every retry (5 lines a second)', async (t) => {
  const lines: string[] = [];
  const dev = createSimulatedDevice({ path: '/nonexistent/gatehouse-audit-tty', rate: 1, framing: 'line', codec: 'json', log: (l) => lines.push(l) });
  await dev.start();
  t.after(() => dev.stop());
  await waitUntil(() => dev.stats().reopens >= 4, 'several reopen attempts', 5000);
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0] ?? '', /cannot open \/nonexistent\/gatehouse-audit-tty/);
});

test('simulated device: stopped while its port opens, it closes that port (the next open of the path is not refused with "Cannot lock port")', {
  skip: socatSkip,
}, async (t) => {
  const pair = await startSocat(t);
  const dev = createSimulatedDevice({ path: pair.dev0, rate: 100, framing: 'line', codec: 'json' });
  // The stop comes while the port's open() is on its way (ordered: from inside the open call).
  const open = SerialPort.prototype.open;
  let stopped: Promise<void> | undefined;
  SerialPort.prototype.open = function (this: SerialPort, cb?: (err: Error | null) => void) {
    SerialPort.prototype.open = open;
    stopped = dev.stop();
    return open.call(this, cb);
  };
  t.after(() => {
    SerialPort.prototype.open = open;
  });
  await dev.start();
  await stopped;
  const next = new SerialPort({ path: pair.dev0, baudRate: 115200, autoOpen: false });
  // (the stopped device's close may still be on its way: a few tries)
  await waitUntil(() => new Promise<boolean>((resolve) => next.open((err) => resolve(!err))), 'the path opens again after the stop', 2000, 50);
  await new Promise<void>((r) => next.close(() => r()));
  assert.equal(dev.stats().sent, 0, 'nothing generated after the stop');
});
