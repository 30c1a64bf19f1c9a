// A file source on a failing card, its log bounded: a read that fails was a warning per scan and per
// write event for each file (EIO on a worn SD card: every scanIntervalMs, for as long as the card
// lasts), and a new file whose first bytes read EIO failed every look ('scan failed', an error
// line per scan, and no other file looked at). Now each is logged at its first failure, then once a minute per file and error
// with the count (`suppressed`, `failures`), and once when it ends ('... work again', with
// `failures` and `failingMs`); gatehouse_file_read_errors_total still counts every failure.
// The card is a stand-in: test/helpers/eio-shim.c, an LD_PRELOAD shim compiled here with gcc that
// fails (GH_EIO_OPS read) the reads of files whose path contains '/bad-' while a flag file exists
// (no failing card exists where the tests run). The gateway runs as `gatehouse start` (bin/gatehouse.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { buildEioShim, eioEnv, eioSkip } from '../helpers/eio-shim.js';

async function counter(gw: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{source="tail"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const lines = (gw: GatewayProcess, msg: RegExp): Record<string, unknown>[] => gw.logs.filter((l) => msg.test(String(l.msg)));

test('EIO on a tailed file and on a new file: one line when the reads or the scans start failing, one when they work again, with the count; every failure counted', {
  skip: eioSkip,
  timeout: 90_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-eio-');
  const so = await buildEioShim(dir);
  const logs = join(dir, 'logs');
  await mkdir(logs);
  const bad = join(logs, 'bad-1.log');
  await writeFile(bad, 'one\n');
  await writeFile(join(logs, 'good.log'), 'g1\n');
  const flag = join(dir, 'eio-on');
  const config = await writeConfig(
    dir,
    [
      `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'sources:',
      '  - type: file',
      '    name: tail',
      `    paths: [${JSON.stringify(join(logs, '*.log'))}]`,
      '    initialPosition: start_of_file',
      '    topic: logs/{stem}',
      '    scanIntervalMs: 50',
      '',
    ].join('\n'),
  );
  const gw = await startGatewayProcess(config, [], 20_000, [], eioEnv(so, { ops: 'read', match: '/bad-', flag }));
  t.after(() => gw.kill9());
  await waitUntil(async () => (await counter(gw, 'gatehouse_file_lines_total')) === 2, 'both files read', 10_000);

  // The tailed file's reads fail: at every look (every 50 ms) and at each write event.
  await writeFile(flag, '');
  await appendFile(bad, 'two\n');
  await waitUntil(async () => (await counter(gw, 'gatehouse_file_read_errors_total')) >= 20, 'twenty failed reads', 20_000);
  const readFailed = /read of .*bad-1\.log failed/;
  assert.equal(lines(gw, readFailed).length, 1, `one line for ${await counter(gw, 'gatehouse_file_read_errors_total')} failed reads`);
  await rm(flag);
  const works = await waitUntil(() => lines(gw, /reads of .*bad-1\.log work again/)[0], 'the reads work again', 10_000);
  await waitUntil(async () => (await counter(gw, 'gatehouse_file_lines_total')) === 3, 'the line written while the card failed, read', 10_000);
  assert.equal(works.failures, await counter(gw, 'gatehouse_file_read_errors_total'), 'the line counts every failure the counter counts');
  assert.ok(Number(works.failures) >= 20);
  assert.equal(lines(gw, readFailed).length, 1);

  // A new file whose first bytes read EIO: unreadable (one warning), looked at again at each scan,
  // and the scan goes on: a good file created meanwhile is read while the fault lasts. (The error
  // ended every look: 'scan failed', and no other new file was found nor open one checked until the
  // bad one could be read.)
  await writeFile(flag, '');
  await writeFile(join(logs, 'bad-2.log'), 'new\n');
  const unreadable = /cannot read .*bad-2\.log/;
  await waitUntil(() => lines(gw, unreadable).length > 0, 'bad-2.log unreadable', 10_000);
  await writeFile(join(logs, 'good-2.log'), 'g2\n');
  await waitUntil(async () => (await counter(gw, 'gatehouse_file_lines_total')) === 4, 'good-2.log read while bad-2.log cannot be', 10_000);
  assert.equal(lines(gw, /scan failed/).length, 0, 'no look failed');
  assert.equal(lines(gw, unreadable).length, 1, 'one line for bad-2.log, looked at again at every scan');
  await rm(flag);
  await waitUntil(async () => (await counter(gw, 'gatehouse_file_lines_total')) === 5, 'bad-2.log read once the card reads again', 10_000);
  assert.equal(lines(gw, /scan failed/).length, 0);
});
