// Which of several rotated files of one path is the oldest (rotated-age.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { olderFirst, rotationSuffix, SAVED_AT_PATH, SAVED_ROTATED, UNKNOWN, type Aged } from '../../gateway/pipeline/sources/file/rotated-age.js';

function aged(path: string, known: number, mtimeMs: number, seq: number): Aged {
  return { path: `/l/${path}`, writtenAt: '/l/app.log', known, mtimeMs, seq };
}

const order = (files: Aged[]): string[] => [...files].sort(olderFirst).map((a) => a.path.slice(3));

test('rotated age: the saved state first, then the modification time, then logrotate names (highest number oldest), dates as text', () => {
  assert.deepEqual(
    order([aged('app.log.1', SAVED_AT_PATH, 5, 1), aged('app.log.2', SAVED_ROTATED, 9, 2), aged('app.log.3', UNKNOWN, 1, 3)]),
    ['app.log.2', 'app.log.1', 'app.log.3'],
    'what the state knew comes first, whatever the times',
  );
  assert.deepEqual(order([aged('app.log.1', UNKNOWN, 20, 1), aged('app.log.2', UNKNOWN, 10, 2)]), ['app.log.2', 'app.log.1']);
  // Within one timestamp tick: the names tell.
  assert.deepEqual(order([aged('app.log.2', UNKNOWN, 10, 1), aged('app.log.10', UNKNOWN, 10, 2), aged('app.log.9', UNKNOWN, 10, 3)]), [
    'app.log.10',
    'app.log.9',
    'app.log.2',
  ]);
  assert.deepEqual(order([aged('app.log-20261207', UNKNOWN, 10, 1), aged('app.log-20261206', UNKNOWN, 10, 2)]), ['app.log-20261206', 'app.log-20261207']);
  // Nothing tells: the order found.
  assert.deepEqual(order([aged('other', UNKNOWN, Infinity, 2), aged('more', UNKNOWN, Infinity, 1)]), ['more', 'other']);
  assert.equal(rotationSuffix('app.log', 'app.log.1'), '.1');
  assert.equal(rotationSuffix('app.log', 'app.log-20261206'), '-20261206');
  assert.equal(rotationSuffix('app.log', 'app.log.lock'), undefined);
  assert.equal(rotationSuffix('app.log', 'app.log'), undefined);
});
