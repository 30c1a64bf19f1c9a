// The store's id (gateway/store/identity.ts): written with the database when it is made, so a store
// made anew (its directory deleted) has another, and the installation id bound to it changes with
// it (installation-id.test.ts). Real stores (LevelDB in temp dirs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/index.js';
import { round30Store, storeIdentity } from '../helpers/store-identity.js';

test('store id: made with the database, the same at every open; a store from before store ids adopts one once', async (t) => {
  const dir = await tempDir(t);
  const first = await storeIdentity(dir);
  assert.match(first.id, /^[0-9a-f]{16}$/);
  assert.equal(first.adopted, false, 'a database made by this open is not adopted');
  assert.deepEqual(await storeIdentity(dir), first);
  const other = await tempDir(t);
  assert.notEqual((await storeIdentity(other)).id, first.id, 'another store, another id');
  const old = await tempDir(t);
  await round30Store(old);
  const adopted = await storeIdentity(old);
  assert.equal(adopted.adopted, true);
  assert.deepEqual(await storeIdentity(old), { id: adopted.id, adopted: false }, 'recorded at the adopting open');
});
