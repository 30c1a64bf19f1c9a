// `check-config FILE --data-dir DIR`, as `start` takes it. Before, check-config had no --data-dir:
// run on the systemd unit's config (the unit passes --data-dir /var/lib/gatehouse to start), it
// checked ./gatehouse-data of the working directory and named that folder as where the data is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { main } from '../../gateway/cli/main.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir, testDeps } from '../helpers/index.js';

const CONFIG = 'broker: { listeners: [{ host: 127.0.0.1, port: 0 }] }\nadmin: { enabled: false }\n';

async function configIn(dir: string, extra = ''): Promise<string> {
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, CONFIG + extra);
  return file;
}

test('check-config --data-dir on a folder holding a store sees the store there; without, it names ./gatehouse-data', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'var-lib-gatehouse');
  // a real store, as a gateway started with --data-dir leaves it (closed: check-config never opens it)
  const store = await openLocalStreams({ path: join(data, 'store') }, testDeps());
  await store.close();
  const file = await configIn(dir);

  const withFlag = await runCaptured(main, ['check-config', file, '--data-dir', data]);
  assert.equal(withFlag.code, 0, withFlag.err);
  assert.match(withFlag.out, /: OK: /);
  assert.ok(withFlag.out.includes(`data in ${data} (holds a store)`), withFlag.out);

  const without = await runCaptured(main, ['check-config', file]);
  assert.equal(without.code, 0, without.err);
  assert.ok(!without.out.includes(data), `the flag's folder is not named without it: ${without.out}`);
  assert.ok(without.out.includes(`data in ${resolve('gatehouse-data')} (`), without.out);

  const fresh = await runCaptured(main, ['check-config', file, '--data-dir', join(dir, 'new')]);
  assert.ok(fresh.out.includes(`data in ${join(dir, 'new')} (not made yet: the first start makes it`), fresh.out);
});

test('check-config --data-dir on a path a file stands in: the problem start refuses with exit 78, at dataDir; without the flag: OK', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a-file'), 'x');
  const file = await configIn(dir);
  const r = await runCaptured(main, ['check-config', file, '--data-dir', join(dir, 'a-file', 'data')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /GH_CONFIG_INVALID: the data directory .*a-file\/data cannot be made \(.*a-file is a file, not a folder\) \(at dataDir\)/);
  assert.equal((await runCaptured(main, ['check-config', file])).code, 0);
});

test("check-config --data-dir over the file's dataDir: warned as start warns; the flag is what is checked", async (t) => {
  const dir = await tempDir(t);
  const file = await configIn(dir, 'dataDir: ssd/gatehouse\n');
  const flag = join(dir, 'var-lib');
  const r = await runCaptured(main, ['check-config', file, '--data-dir', flag]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`warning: --data-dir ${flag} wins over dataDir ${join(dir, 'ssd/gatehouse')} in .*systemctl edit gatehouse`));
  assert.ok(r.out.includes(`data in ${flag} (`), r.out);
  const plain = await runCaptured(main, ['check-config', file]);
  assert.equal(plain.err, '');
  assert.ok(plain.out.includes(`data in ${join(dir, 'ssd/gatehouse')} (`), plain.out);
});

test("check-config --data-dri: refused with exit 2 and 'did you mean --data-dir?', as every option is", async (t) => {
  const file = await configIn(await tempDir(t));
  const r = await runCaptured(main, ['check-config', file, '--data-dri', '/var/lib/gatehouse']);
  assert.equal(r.code, 2);
  assert.match(r.err, /Unknown option '--data-dri' \(did you mean --data-dir\?\)/);
});

test('check-config --help lists --data-dir with the words of start --help', async () => {
  const check = await runCaptured(main, ['check-config', '--help']);
  const start = await runCaptured(main, ['start', '--help']);
  assert.match(check.out.split('\n')[0]!, /^usage: gatehouse check-config FILE\|--config FILE \[--data-dir DIR\]$/);
  const block = (out: string): string => out.slice(out.indexOf('  --data-dir DIR'), out.indexOf('/var/lib/gatehouse.', out.indexOf('  --data-dir DIR')));
  assert.ok(block(check.out).length > 100, check.out);
  assert.equal(block(check.out), block(start.out));
});

test('check-config takes the file as --config FILE too, as start does (round 38 trial: typed so, it was refused); both at once is refused', async (t) => {
  const dir = await tempDir(t);
  const file = await configIn(dir);
  const flag = await runCaptured(main, ['check-config', '--config', file, '--data-dir', join(dir, 'data')]);
  assert.equal(flag.code, 0, flag.err);
  assert.match(flag.out, /: OK: /);
  const both = await runCaptured(main, ['check-config', '--config', file, file]);
  assert.equal(both.code, 2, both.err);
  assert.match(both.err, /expected exactly one FILE \(or --config FILE\)/);
});
