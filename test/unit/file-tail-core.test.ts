// The file source's pure parts: the glob matcher and the line splitter (offsets, bounds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/index.js';
import { compileGlob, expandGlob } from '../../gateway/pipeline/sources/file/glob.js';
import { LineSplitter, utf8Cut } from '../../gateway/pipeline/sources/file/splitter.js';

test('glob: base folder, * ? [..] and ** segments', () => {
  const g = compileGlob('/var/log/app/*.log');
  assert.equal(g.base, '/var/log/app');
  assert.ok(g.full.test('/var/log/app/x.log'));
  assert.ok(!g.full.test('/var/log/app/x.log.1'));
  assert.ok(!g.full.test('/var/log/app/sub/x.log'));
  const d = compileGlob('/data/plc/**/*.csv');
  assert.equal(d.base, '/data/plc');
  for (const p of ['/data/plc/a.csv', '/data/plc/l1/a.csv', '/data/plc/l1/c2/a.csv']) assert.ok(d.full.test(p), p);
  assert.ok(!d.full.test('/data/plc/a.csv.gz'));
  const c = compileGlob('/x/log-[0-9]?.txt');
  assert.ok(c.full.test('/x/log-1a.txt'));
  assert.ok(!c.full.test('/x/log-ab.txt'));
  assert.equal(compileGlob('/etc/hosts').base, '/etc');
});

test('splitter: offsets, CRLF, safe offset before an incomplete line', () => {
  const s = new LineSplitter({ maxLineBytes: 100, skipHeaderLines: 0 }, 10);
  const out = s.push(Buffer.from('ab\r\ncd\nef'));
  assert.deepEqual(
    out.map((r) => [r.payload.toString(), r.start, r.end]),
    [
      ['ab', 10, 14],
      ['cd', 14, 17],
    ],
  );
  assert.equal(s.safeOffset(), 17);
  assert.equal(s.readOffset, 19);
  const more = s.push(Buffer.from('gh\n'));
  assert.deepEqual(
    more.map((r) => [r.payload.toString(), r.start, r.end]),
    [['efgh', 17, 22]],
  );
  assert.equal(s.safeOffset(), 22);
});

test('splitter: over-long lines are cut (counted) and never held beyond maxLineBytes', () => {
  const s = new LineSplitter({ maxLineBytes: 8, skipHeaderLines: 0 }, 0);
  const out = [...s.push(Buffer.from('0123456789')), ...s.push(Buffer.from('abcdef')), ...s.push(Buffer.from('gh\nok\n'))];
  assert.ok(s.heldBytes <= 8);
  assert.deepEqual(
    out.map((r) => [r.payload.toString(), r.cut === true]),
    [
      ['01234567', true],
      ['ok', false],
    ],
  );
  assert.equal(s.counters.linesCut, 1);
  assert.equal(s.counters.bytesSkipped, 10);
});

test('splitter: header lines skipped only from the start; multi-line records keep the start line offset as safe offset', () => {
  const s = new LineSplitter({ maxLineBytes: 100, skipHeaderLines: 1, isRecordStart: (l) => l[0] === 0x5b }, 0);
  const out = s.push(Buffer.from('h1,h2\n[1] a\n b\n[2] c\n'));
  assert.deepEqual(
    out.map((r) => r.payload.toString()),
    ['[1] a\n b'],
  );
  assert.equal(s.safeOffset(), 15); // start of "[2] c", still being assembled
  assert.deepEqual(
    s.flush().map((r) => r.payload.toString()),
    ['[2] c'],
  );
  assert.equal(s.safeOffset(), 21);
  assert.equal(new LineSplitter({ maxLineBytes: 100, skipHeaderLines: 1 }, 50).headersLeft, 0);
});

test('splitter: NUL bytes opening the file (the hole a writer without O_APPEND leaves after copytruncate) are dropped and counted, not made a line', () => {
  const s = new LineSplitter({ maxLineBytes: 64, skipHeaderLines: 0 }, 0);
  // A hole longer than maxLineBytes, across chunks, then the writer's next line: kept, the hole
  // made one record with it, cut at maxLineBytes, and the line was lost.
  const out = [...s.push(Buffer.alloc(100)), ...s.push(Buffer.concat([Buffer.alloc(50), Buffer.from('post 0\npost 1\n')]))];
  assert.deepEqual(
    out.map((r) => [r.payload.toString(), r.start, r.end, r.cut === true]),
    [
      ['post 0', 150, 157, false],
      ['post 1', 157, 164, false],
    ],
  );
  assert.equal(s.counters.nulBytesSkipped, 150);
  assert.equal(s.counters.linesCut, 0);
  // Only at the file's start: NULs after it are the lines' bytes (binary lines pass through).
  assert.deepEqual(
    s.push(Buffer.from('\u0000a\n')).map((r) => [...r.payload]),
    [[0, 0x61]],
  );
  // The safe offset moves past a hole with nothing after it yet (a restart does not read it again).
  const hole = new LineSplitter({ maxLineBytes: 64, skipHeaderLines: 0 }, 0);
  hole.push(Buffer.alloc(10));
  assert.equal(hole.safeOffset(), 10);
  // A file read from elsewhere than its start has no leading hole.
  assert.deepEqual(
    new LineSplitter({ maxLineBytes: 64, skipHeaderLines: 0 }, 5).push(Buffer.from('\u0000b\n')).map((r) => [...r.payload]),
    [[0, 0x62]],
  );
});

test('splitter: a line cut at maxLineBytes is cut between UTF-8 characters, not inside one (the record stays text)', () => {
  const text = `x${'é'.repeat(20)}`; // 41 bytes: 'x', then 2 bytes per é
  for (const [name, make] of [
    ['one chunk', () => [Buffer.from(`${text}\nok\n`)]],
    ['held across chunks', () => [Buffer.from(text), Buffer.from('\nok\n')]],
  ] as const) {
    const s = new LineSplitter({ maxLineBytes: 10, skipHeaderLines: 0 }, 0);
    const out = make().flatMap((c) => s.push(c));
    // Before: 'xéééé' plus the first byte of the fifth é, not UTF-8 (sent base64).
    assert.equal(out[0]?.payload.toString(), 'xéééé', name);
    assert.ok(isUtf8(out[0]!.payload), name);
    assert.equal(out[0]?.cut, true, name);
    assert.equal(s.counters.bytesSkipped, 41 - 9, name);
    assert.equal(out[1]?.payload.toString(), 'ok', name);
  }
  const multi = new LineSplitter({ maxLineBytes: 10, skipHeaderLines: 0, isRecordStart: (l) => l[0] === 0x5b }, 0);
  const rec = multi.push(Buffer.from(`[1] a\n${'é'.repeat(5)}\n[2]\n`));
  assert.equal(rec[0]?.payload.toString(), '[1] a\néé');
  assert.deepEqual([utf8Cut(Buffer.from('€€'), 4), utf8Cut(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), 3)], [3, 3]);
});

test('splitter: a UTF-8 byte order mark opening the file is not part of its first record', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const s = new LineSplitter({ maxLineBytes: 64, skipHeaderLines: 0 }, 0);
  const out = s.push(Buffer.concat([bom, Buffer.from('{"a":1}\r\n'), bom, Buffer.from('x\n')]));
  assert.deepEqual(
    out.map((r) => [...r.payload]),
    [[...Buffer.from('{"a":1}')], [...bom, ...Buffer.from('x')]],
  );
  assert.equal(out[0]?.start, 0);
});

test('glob: a folder on the pattern that cannot be listed (permissions) is reported, a missing one is not', async (t) => {
  const dir = await tempDir(t, 'gatehouse-glob-');
  await mkdir(join(dir, 'open'));
  await mkdir(join(dir, 'locked'));
  await writeFile(join(dir, 'open', 'a.log'), 'a\n');
  await writeFile(join(dir, 'locked', 'b.log'), 'b\n');
  await chmod(dir, 0o755);
  await chmod(join(dir, 'locked'), 0o700);
  // Root lists any folder: the walk runs in a child as nobody then (a real permission check).
  const asNobody = process.getuid?.() === 0;
  if (!asNobody) await chmod(join(dir, 'locked'), 0o000);
  t.after(() => chmod(join(dir, 'locked'), 0o700).catch(() => undefined));
  const glob = new URL('../../gateway/pipeline/sources/file/glob.js', import.meta.url).href;
  const script = `import { compileGlob, expandGlob } from ${JSON.stringify(glob)};
    const bad = [];
    const found = await expandGlob(compileGlob(process.argv[1]), (d, e) => bad.push([d, e.code]));
    console.log(JSON.stringify({ found, bad }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, join(dir, '*', '*.log')], {
    ...(asNobody ? { uid: 65534, gid: 65534 } : {}),
  });
  const { found, bad } = JSON.parse(stdout) as { found: string[]; bad: Array<[string, string]> };
  assert.deepEqual(found, [join(dir, 'open', 'a.log')]);
  // Before: skipped as if missing; its files were never tailed and nothing said why.
  assert.deepEqual(bad, [[join(dir, 'locked'), 'EACCES']]);
  const none: string[] = [];
  assert.deepEqual(await expandGlob(compileGlob(join(dir, 'missing', '*.log')), (d) => none.push(d)), []);
  assert.deepEqual(none, [], 'a folder that does not exist (yet) is not an error');
});
