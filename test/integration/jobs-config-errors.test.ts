// A job's bad cron expression, as `gatehouse check-config` and `gatehouse start` print it: the key
// path, the job, the expression, the field with its value and range, and the form of a schedule.
// node-cron's own text ("61 is a invalid expression for minute") was printed before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir } from '../helpers/index.js';

test('check-config and start: a minute of 61 in a job schedule is a config error that says what, where and how to fix', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\njobs:\n  - { name: hb, schedule: '61 * * * *', type: heartbeat }\n`);
  const problem =
    "jobs.0.schedule: job 'hb': invalid cron expression '61 * * * *': the minute field '61': 61 is outside 0-59; a schedule is five or six fields, [second] minute hour day month weekday: second and minute 0-59, hour 0-23, day 1-31, month 1-12 or jan-dec, weekday 0-7 or sun-sat (0 and 7: Sunday); each * (every), a value, a range a-b, a list a,b or a step */n, e.g. '*/5 * * * *' (every 5 minutes) or '0 30 2 * * *' (at 02:30:00)";
  const checked = await runCaptured(main, ['check-config', file]);
  assert.equal(checked.code, 1, checked.err);
  assert.ok(
    checked.err.startsWith(`gatehouse check-config: GH_CONFIG_INVALID: ${file} is invalid (1 problem):\n  - ${problem} (found string "61 * * * *")`),
    checked.err,
  );
  assert.doesNotMatch(checked.err, /is a invalid expression/);
  // start validates the same file the same way, and exits before it binds anything
  const started = await runCaptured(main, ['start', '--config', file, '--mqtt-port', '0', '--admin-port', '0']);
  assert.equal(started.code, 78, started.err);
  assert.ok(started.err.includes(`  - ${problem} (found string "61 * * * *")`), started.err);
  assert.doesNotMatch(started.err, /is a invalid expression/);
});
