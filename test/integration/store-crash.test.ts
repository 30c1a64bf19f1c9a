// Crash test: a child process appends with fsync and prints every acknowledged sequence; it is
// killed with SIGKILL mid-stream; every printed sequence must then be on disk, intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { openLocalStreams } from '../../gateway/store/index.js';
import { compiled, repoRoot, tempDir, testDeps } from '../helpers/index.js';

test('every append acknowledged before kill -9 survives, intact', async (t) => {
  const dir = await tempDir(t);
  const script = compiled ? join(repoRoot, 'dist/test/integration/store-crash.child.js') : join(repoRoot, 'test/integration/store-crash.child.ts');
  const args = compiled ? [script, dir] : ['--import', 'tsx', script, dir];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const acked = new Map<number, string>();
  const target = 2000;
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, 'exit');
  const linesClosed = once(lines, 'close');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child acknowledged only ${acked.size} appends in 30 s; stderr: ${stderr}`)), 30_000);
    lines.on('line', (line) => {
      const [seq, w, i] = line.split(' ');
      if (seq === 'ready' || w === undefined) return;
      acked.set(Number(seq), `rec-${w}-${i}-`.padEnd(120, 'x'));
      if (acked.size === target) {
        // Killed mid-stream: appends are in flight right now.
        child.kill('SIGKILL');
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (acked.size < target) reject(new Error(`child exited early (${code}); stderr: ${stderr}`));
    });
  });
  const [, signal] = await exited;
  assert.equal(signal, 'SIGKILL');
  // Lines still in the pipe were acknowledged too (the listener keeps adding them): drain it.
  await linesClosed;

  const store = await openLocalStreams({ path: dir }, testDeps());
  t.after(() => store.close());
  await store.defineStream({ name: 'crash', maxBytes: 64 * 1024 * 1024, onFull: 'reject' });
  const info = store.info('crash');
  const maxAcked = Math.max(...acked.keys());
  assert.ok(info.lastSeq >= maxAcked, `lastSeq ${info.lastSeq} < acknowledged ${maxAcked}`);
  const found = new Map<number, string>();
  for (let from = 1; from <= info.lastSeq; ) {
    const batch = await store.read('crash', from, { limit: 1000 });
    assert.ok(batch.length > 0, `no record at ${from} though lastSeq is ${info.lastSeq}`);
    for (const r of batch) found.set(r.seq, r.payload.toString());
    from = (batch.at(-1)?.seq ?? from) + 1;
  }
  assert.equal(found.size, info.lastSeq, 'sequences are contiguous after the crash');
  let missing = 0;
  for (const [seq, payload] of acked) if (found.get(seq) !== payload) missing++;
  assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged records are missing or differ`);
  // Appends go on after the crash without reusing a sequence.
  assert.equal(await store.append('crash', { topic: 't', payload: Buffer.from('after'), receivedAt: Date.now() }), info.lastSeq + 1);
});
