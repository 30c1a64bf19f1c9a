// The file source's state writer (state-writer.ts): a commit writes the keys of the files whose
// state changed since the last one, deletes those no longer tracked, writes the head when the
// content read before changed, replaces the v1 state (one value), and writes everything again
// after a failed commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateWriter, SEEN_REFRESH_MS, type StateTracker } from '../../gateway/pipeline/sources/file/state-writer.js';
import { decodeKeys, HEAD_NAME } from '../../gateway/pipeline/sources/file/state.js';
import type { ReadContent } from '../../gateway/pipeline/sources/file/rotated-away.js';

function tracker(id: string, offset: number): StateTracker & { submittedOffset: number; pathSeenAt: number; contentSeenAt: number } {
  const [dev, ino] = id.split(':') as [string, string];
  const t = {
    path: `/logs/${ino}.log`,
    fp: { hash: 'abc', len: 10 },
    submittedOffset: offset,
    submittedHeadersLeft: 0,
    from: undefined,
    inMemoryBytes: undefined,
    detached: false,
    size: 0,
    pathSeenAt: 1000,
    contentSeenAt: 1000,
    saved() {
      return { path: t.path, dev, ino, fp: t.fp, offset: t.submittedOffset, headersLeft: 0, seen: Math.min(t.pathSeenAt, t.contentSeenAt) };
    },
  };
  return t;
}

function names(entries: ReadonlyArray<readonly [string, Buffer | null]>): string[] {
  return entries.map(([n, v]) => `${v === null ? '-' : '+'}${n}`).sort();
}

test('state writer: only the files changed since the last commit are written; untracked ones deleted; the head when it changed', () => {
  const trackers = new Map<string, ReturnType<typeof tracker>>();
  for (let i = 0; i < 1000; i++) trackers.set(`1:${i}`, tracker(`1:${i}`, 100));
  const readContent: ReadContent[] = [];
  const w = new StateWriter({ trackers, readContent, header: () => undefined, now: () => 5000 });
  const first = w.entries();
  assert.equal(first.length, 1001, 'every file and the head at the first commit');
  const state = decodeKeys(first.map(([n, v]) => [n, v!]));
  assert.ok(state && !(state instanceof Error));
  assert.equal(state.files.length, 1000);
  assert.deepEqual(w.entries(), [], 'nothing changed: nothing written');
  trackers.get('1:7')!.submittedOffset = 150;
  trackers.get('1:9')!.pathSeenAt = 1000 + SEEN_REFRESH_MS - 1;
  assert.deepEqual(names(w.entries()), ['+/1:7'], 'one offset moved: one key (a newer look alone waits)');
  trackers.delete('1:8');
  readContent.push({ fp: { hash: 'def', len: 10 }, offset: 40, key: '1:8', head: Buffer.alloc(4096) });
  const retired = w.entries();
  assert.deepEqual(names(retired), ['+/head', '-/1:8'], 'a retired file: its key deleted, the head with its content');
  const head = retired.find(([n]) => n === HEAD_NAME)![1]!.toString();
  assert.ok(!head.includes('"head"'), `the fingerprinted bytes are not saved: ${head}`);
  trackers.get('1:9')!.pathSeenAt = trackers.get('1:9')!.contentSeenAt = 1000 + SEEN_REFRESH_MS;
  assert.deepEqual(names(w.entries()), ['+/1:9'], 'a look SEEN_REFRESH_MS newer than the one saved is written');
});

test('state writer: the v1 state (one value) is deleted at the first commit with stale keys; a failed commit writes everything again', () => {
  const trackers = new Map([['1:1', tracker('1:1', 10)]]);
  const w = new StateWriter({ trackers, readContent: [], header: () => 'a,b', now: () => 1 });
  w.loadedLegacy(['1:2']);
  assert.ok(w.migrating);
  assert.deepEqual(names(w.entries()), ['+/1:1', '+/head', '-', '-/1:2']);
  assert.ok(!w.migrating);
  assert.deepEqual(w.entries(), []);
  w.failed(['1:3', '1:1'], true);
  assert.deepEqual(names(w.entries()), ['+/1:1', '+/head', '-', '-/1:3'], 'after a failure: every file, the head, stale keys and the old key');
});

test('state writer: keys loaded at start are not written again until they change', () => {
  const trackers = new Map([['1:1', tracker('1:1', 10)]]);
  const w = new StateWriter({ trackers, readContent: [], header: () => undefined, now: () => 1 });
  w.loaded(
    new Map([
      ['1:1', trackers.get('1:1')!.saved()],
      ['1:5', { ...trackers.get('1:1')!.saved(), ino: '5' }],
    ]),
    '{}',
  );
  assert.deepEqual(names(w.entries()), ['-/1:5'], 'only the saved file no longer tracked');
});
