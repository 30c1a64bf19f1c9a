// A data directory the gateway's user may not write (a first start under sudo, a copy restored as
// root) said only "check that the directory is writable and that no other gatehouse process uses
// it" and exited 1, so systemd restarted it every few seconds for ever. It is now named as a
// permission problem, with the user and the fix, and exits 78 (not restarted).
// LevelDB's refusal is played by a test double: the tests run as root in CI, and root is refused
// nothing. (By hand, as root: setpriv --reuid=65534 --regid=65534 --clear-groups gatehouse start
// --data-dir DIR on a root-owned DIR prints this error and exits 78.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openChecked, type Db } from '../../gateway/store/database.js';
import { isGatehouseError } from '../../core/errors.js';
import { restartCannotFix } from '../../gateway/cli/exit-codes.js';

/** A LevelDB handle whose open fails as classic-level's does: a generic message, LevelDB's own words in the cause. */
function refusingDb(levelMessage: string): Db {
  const err = Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: new Error(levelMessage) });
  return { open: () => Promise.reject(err) } as unknown as Db;
}

test('a store directory the gateway may not write: GH_STORE_OPEN naming the user and the fix, and start exits 78', async () => {
  const path = '/var/lib/gatehouse/store';
  let caught: unknown;
  await openChecked(refusingDb(`IO error: ${path}/LOCK: Permission denied`), path).catch((e: unknown) => (caught = e));
  assert.ok(isGatehouseError(caught, 'GH_STORE_OPEN'), String(caught));
  assert.match(caught.message, /\/var\/lib\/gatehouse\/store: it is not writable by the user the gateway runs as \(.*uid \d+\): .*Permission denied/);
  assert.match(caught.hint ?? '', /chown -R \S+ \/var\/lib\/gatehouse\b/);
  assert.equal(restartCannotFix(caught), true, 'exit 78: a restart cannot fix it');
});

test('a store held by another process (its LOCK) stays a failure a restart may cure (exit 1)', async () => {
  const path = '/var/lib/gatehouse/store';
  let caught: unknown;
  await openChecked(refusingDb(`IO error: lock ${path}/LOCK: already held by process`), path).catch((e: unknown) => (caught = e));
  assert.ok(isGatehouseError(caught, 'GH_STORE_OPEN'), String(caught));
  // what: another gateway runs on it (a second npm start); how: which process, or another --data-dir
  assert.match(caught.message, /another process holds its LOCK: a gateway already runs on this data directory/);
  assert.match(caught.hint ?? '', /fuser -v \/var\/lib\/gatehouse\/store\/LOCK names its process.*another --data-dir/);
  assert.equal(restartCannotFix(caught), false);
  // LevelDB's other wording of a held lock (this machine's: fcntl's EAGAIN)
  let again: unknown;
  await openChecked(refusingDb(`IO error: lock ${path}/LOCK: Resource temporarily unavailable`), path).catch((e: unknown) => (again = e));
  assert.ok(isGatehouseError(again, 'GH_STORE_OPEN'), String(again));
  assert.match(again.message, /a gateway already runs on this data directory/);
});
