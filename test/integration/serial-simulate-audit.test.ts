// `gatehouse simulate serial` argument checks found by the round-13 audit: a number option given a
// value that is not a number must be refused (exit 2), not silently replaced by its default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulateSerial } from '../../gateway/cli/simulate-serial.js';
import { runCaptured } from '../helpers/cli-capture.js';

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
