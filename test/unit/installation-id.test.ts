// The installation id (gateway/upstream/installation-id.ts) is bound to the store it was made with
// and to the machine it was made on: kept across restarts of the same store on the same machine and
// across an upgrade from round 30 (an id file, a store with data and no store id), made anew when
// the store is new or the machine is another. Real stores (LevelDB in temp dirs) and real files;
// the machine fingerprint is a test double (no second machine exists here), except in the test of
// readMachineFingerprint, which reads a tree of files laid out as /etc, /proc and /sys are.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import type { StoreIdentity } from '../../gateway/store/types.js';
import {
  installationId,
  readInstallationId,
  storeFolderIdentity,
  storeLockIdentity,
  type InstallationBinding,
} from '../../gateway/upstream/installation-id.js';
import { machineChanges, readMachineFingerprint, type MachineFingerprint } from '../../gateway/upstream/machine.js';
import { tempDir } from '../helpers/index.js';
import { round30Store, storeIdentity } from '../helpers/store-identity.js';

const run = promisify(execFile);

/** Two machines as their fingerprints (HMACs, as machine.ts keeps them). */
const PI_A: MachineFingerprint = { machineId: 'aaaaaaaaaaaaaaa1', cpuSerial: 'aaaaaaaaaaaaaaa2', macs: ['aaaaaaaaaaaaaaa3', 'aaaaaaaaaaaaaaa4'] };
/** A clone of A's SD card on another Pi: the image's machine-id, the board's own serial and MACs. */
const PI_B: MachineFingerprint = { machineId: 'aaaaaaaaaaaaaaa1', cpuSerial: 'bbbbbbbbbbbbbbb2', macs: ['bbbbbbbbbbbbbbb3', 'bbbbbbbbbbbbbbb4'] };

interface Warned {
  msg: string;
  reason?: string;
  previous?: string;
  installationId?: string;
}

function binding(store: StoreIdentity, machine: MachineFingerprint, warned: Warned[] = []): InstallationBinding {
  const log = pino({ level: 'warn' }, { write: (l: string) => void warned.push(JSON.parse(l) as Warned) });
  return { store, machine: async () => machine, log };
}

test('installation id: kept across restarts of the same store on the same machine', async (t) => {
  const dir = await tempDir(t);
  const warned: Warned[] = [];
  const id = await installationId(dir, binding(await storeIdentity(dir), PI_A, warned));
  assert.match(id, /^[0-9a-f]{16}$/);
  for (let i = 0; i < 3; i++) assert.equal(await installationId(dir, binding(await storeIdentity(dir), PI_A, warned)), id);
  assert.equal(await readInstallationId(dir), id);
  assert.equal(warned.length, 0);
});

test('installation id: kept on an upgrade from round 30 (an id file, a store with data and no store id), and from then on', async (t) => {
  const dir = await tempDir(t);
  await round30Store(dir);
  await writeFile(join(dir, 'installation-id'), '0123456789abcdef\n');
  const warned: Warned[] = [];
  assert.equal(await installationId(dir, binding(await storeIdentity(dir), PI_A, warned)), '0123456789abcdef');
  // The next start: the store has its id now (not adopted), which the file names.
  assert.equal(await installationId(dir, binding(await storeIdentity(dir), PI_A, warned)), '0123456789abcdef');
  assert.equal(warned.length, 0);
  assert.match(await readFile(join(dir, 'installation-id'), 'utf8'), /"store":"[0-9a-f]{16}"/);
});

test('installation id: new when the store is new (<dataDir>/store deleted), also beside a round 30 id file; one warning saying why', async (t) => {
  const dir = await tempDir(t);
  const warned: Warned[] = [];
  const id = await installationId(dir, binding(await storeIdentity(dir), PI_A, warned));
  // The store made anew: another store id.
  const again = await installationId(dir, binding({ id: 'fedcba9876543210', adopted: false }, PI_A, warned));
  assert.notEqual(again, id);
  assert.equal(await readInstallationId(dir), again);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.reason, 'store');
  assert.equal(warned[0]!.previous, id);
  assert.match(warned[0]!.msg, /store .* not the one it was made with.*may arrive upstream again/);
  // A round 30 id file with a store made after it (not adopted: it has had an id since it was made).
  const old = await tempDir(t);
  await writeFile(join(old, 'installation-id'), '0123456789abcdef\n');
  assert.notEqual(await installationId(old, binding(await storeIdentity(old), PI_A)), '0123456789abcdef');
});

test('installation id: new when the machine differs (a cloned SD card on another Pi); kept for a dongle added or an id not readable now', async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const warned: Warned[] = [];
  const id = await installationId(dir, binding(store, PI_A, warned));
  // The same machine: a USB Wi-Fi dongle plugged in, the serial not readable.
  const dongle: MachineFingerprint = { machineId: PI_A.machineId!, macs: [...PI_A.macs, 'ccccccccccccccc5'] };
  assert.equal(await installationId(dir, binding(store, dongle, warned)), id);
  assert.equal(warned.length, 0);
  const clone = await installationId(dir, binding(store, PI_B, warned));
  assert.notEqual(clone, id);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.reason, 'machine');
  assert.match(warned[0]!.msg, /another machine .*CPU serial, MAC addresses differ/);
  // And on B from then on: kept.
  assert.equal(await installationId(dir, binding(store, PI_B, warned)), clone);
  assert.equal(warned.length, 1);
});

test('installation id: kept when machine-id is made anew at each boot on the same board (a read-only root)', async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const warned: Warned[] = [];
  const id = await installationId(dir, binding(store, PI_A, warned));
  for (const boot of ['bbbbbbbbbbbbbbb1', 'ccccccccccccccc1', 'ddddddddddddddd1']) {
    assert.equal(await installationId(dir, binding(store, { ...PI_A, machineId: boot }, warned)), id, `boot with machine-id ${boot}`);
  }
  assert.equal(warned.length, 0);
  // A PC whose board id is not readable (product_uuid is root's) and whose machine-id is renewed: its MACs say the same.
  const pc: MachineFingerprint = { machineId: 'eeeeeeeeeeeeeee1', macs: ['eeeeeeeeeeeeeee3'] };
  const other = await tempDir(t);
  const pcId = await installationId(other, binding(await storeIdentity(other), pc, warned));
  assert.equal(await installationId(other, binding(await storeIdentity(other), { ...pc, machineId: 'fffffffffffffff1' }, warned)), pcId);
  assert.equal(warned.length, 0);
});

test('machine fingerprint: a board id differing, no MAC address in common, or machine-id differing where the hardware says nothing, is another machine', () => {
  assert.deepEqual(machineChanges(PI_A, PI_A), []);
  assert.deepEqual(machineChanges(PI_A, { ...PI_A, machineId: 'ddddddddddddddd1' }), [], "machine-id renewed on the same board: the OS's, not another machine");
  assert.deepEqual(
    machineChanges({ machineId: 'aaaaaaaaaaaaaaa1', macs: [] }, { machineId: 'ddddddddddddddd1', macs: [] }),
    ['machine-id'],
    'nothing of the hardware readable',
  );
  assert.deepEqual(machineChanges(PI_A, { machineId: 'ddddddddddddddd1', macs: [] }), ['machine-id'], 'the hardware not readable now');
  assert.deepEqual(
    machineChanges(PI_A, { ...PI_B, machineId: 'ddddddddddddddd1' }),
    ['machine-id', 'CPU serial', 'MAC addresses'],
    'a new OS on other hardware',
  );
  assert.deepEqual(machineChanges(PI_A, { macs: [PI_A.macs[1]!, 'eeeeeeeeeeeeeee1'] }), [], 'one card of two replaced');
  assert.deepEqual(machineChanges(PI_A, { macs: [] }), [], 'nothing readable is no evidence');
  assert.deepEqual(machineChanges(PI_A, { macs: ['eeeeeeeeeeeeeee1'] }), ['MAC addresses']);
});

test('machine fingerprint: read from machine-id, the Pi serial and the permanent MACs of physical interfaces only', async (t) => {
  const root = await tempDir(t);
  const put = async (path: string, text: string): Promise<void> => {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  };
  await put('etc/machine-id', '3d1219c7c4c5404aaa1f6d2a48adfda4\n');
  await put('proc/cpuinfo', 'processor\t: 0\nflags\t\t: fpu serialize\n\nHardware\t: BCM2835\nSerial\t\t: 10000000abcdef12\nModel\t\t: Raspberry Pi 4\n');
  const iface = async (name: string, mac: string, assign: string, physical: boolean): Promise<void> => {
    await put(`sys/class/net/${name}/address`, `${mac}\n`);
    await put(`sys/class/net/${name}/addr_assign_type`, `${assign}\n`);
    if (physical) await mkdir(join(root, 'sys/class/net', name, 'device'), { recursive: true });
  };
  await iface('eth0', 'dc:a6:32:01:02:03', '0', true);
  await iface('wlan0', 'dc:a6:32:01:02:04', '0', true);
  await iface('wlan1', 'de:ad:be:ef:00:01', '3', true); // set by software (a privacy address)
  await iface('docker0', '02:42:ac:11:00:01', '0', false); // virtual
  await iface('lo', '00:00:00:00:00:00', '0', false);
  const fp = await readMachineFingerprint(root);
  assert.match(fp.machineId ?? '', /^[0-9a-f]{16}$/);
  assert.match(fp.cpuSerial ?? '', /^[0-9a-f]{16}$/);
  assert.equal(fp.productUuid, undefined, 'absent, skipped');
  assert.equal(fp.macs.length, 2);
  assert.ok(!JSON.stringify(fp).includes('dc:a6'), 'kept as HMACs, not the ids');
  // The clone: the same image (machine-id), another board.
  await put('proc/cpuinfo', 'Serial\t\t: 10000000fedcba98\n');
  await iface('eth0', 'dc:a6:32:09:09:09', '0', true);
  await iface('wlan0', 'dc:a6:32:09:09:0a', '0', true);
  assert.deepEqual(machineChanges(fp, await readMachineFingerprint(root)), ['CPU serial', 'MAC addresses']);
});

/** Node processes (the gateway's own module) making the id of `dir` at the same moment: what each got. */
async function racers(t: TestContext, dir: string, n: number): Promise<string[]> {
  const module = fileURLToPath(new URL('../../gateway/upstream/installation-id.js', import.meta.url));
  const script = `import(${JSON.stringify(module)}).then((m) => m.installationId(process.argv[1])).then((id) => process.stdout.write(id))`;
  t.diagnostic(`${n} processes`);
  return Promise.all(Array.from({ length: n }, async () => (await run(process.execPath, ['-e', script, dir])).stdout));
}

test('installation id: concurrent first calls agree on one id, in one process and across processes (link)', async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const ids = await Promise.all(Array.from({ length: 8 }, () => installationId(dir, binding(store, PI_A))));
  assert.equal(new Set(ids).size, 1);
  assert.equal(await readInstallationId(dir), ids[0]);
  const other = await tempDir(t);
  const got = await racers(t, other, 4);
  assert.equal(new Set(got).size, 1, got.join(' '));
  assert.equal(await readInstallationId(other), got[0]);
});

/** A folder made again at `path` (as a restore makes it) whose identity differs from `before` (birth times are on a ~4 ms clock tick). */
async function madeAgain(path: string, before: string | undefined): Promise<string | undefined> {
  for (let i = 0; i < 10_000; i++) {
    await mkdir(path);
    const now = await storeFolderIdentity(path);
    if (now !== before) return now;
    await rm(path, { recursive: true });
  }
  throw new Error(`the folder ${path} came back with its old identity 10,000 times`);
}

test('installation id: new when the store folder is a backup put back on the same machine (same store id, same machine, sequences gone back)', async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const storeDir = join(dir, 'store');
  await mkdir(storeDir, { recursive: true });
  await writeFile(join(storeDir, 'data'), 'records 1..630');
  const folder = await storeFolderIdentity(storeDir);
  assert.match(folder ?? '', /^(born|inode):\d+$/);
  const warned: Warned[] = [];
  const id = await installationId(dir, { ...binding(store, PI_A, warned), folder });
  // Restarts, and a rename within the file system (the folder itself moved): kept.
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder: await storeFolderIdentity(storeDir) }), id);
  await rename(storeDir, join(dir, 'store-moved'));
  assert.equal(await storeFolderIdentity(join(dir, 'store-moved')), folder, 'a rename keeps the folder');
  await rename(join(dir, 'store-moved'), storeDir);
  assert.equal(warned.length, 0);
  // The restore docs/upgrading.md describes: the live folder moved aside, the backup's copy put back.
  await rename(storeDir, join(dir, 'store.broken'));
  const restored = await madeAgain(storeDir, folder);
  await cp(join(dir, 'store.broken', 'data'), join(storeDir, 'data'));
  const again = await installationId(dir, { ...binding(store, PI_A, warned), folder: restored });
  assert.notEqual(again, id, 'the restored store numbers new records with seqs the old id already named');
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.reason, 'folder');
  assert.match(warned[0]!.msg, /store folder is not the one it was made with \(a backup restored/);
  // From then on, kept.
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder: restored }), again);
  assert.equal(warned.length, 1);
});

test('installation id: a file from before round 32 (no folder) is kept and bound to the folder it is beside', async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const id = await installationId(dir, binding(store, PI_A));
  assert.doesNotMatch(await readFile(join(dir, 'installation-id'), 'utf8'), /"folder"/);
  const storeDir = join(dir, 'store');
  await mkdir(storeDir, { recursive: true });
  const folder = await storeFolderIdentity(storeDir);
  assert.equal(await installationId(dir, { ...binding(store, PI_A), folder }), id);
  assert.match(await readFile(join(dir, 'installation-id'), 'utf8'), /"folder":"(born|inode):\d+"/);
  // Without a folder to check (a stat that failed), the recorded one stays.
  assert.equal(await installationId(dir, binding(store, PI_A)), id);
  assert.match(await readFile(join(dir, 'installation-id'), 'utf8'), /"folder":/);
});

test("installation id: new when the store's LOCK file was made again (a backup extracted over the live folder); a file from before round 33 is bound to the LOCK beside it", async (t) => {
  const dir = await tempDir(t);
  const store = await storeIdentity(dir);
  const storeDir = join(dir, 'store');
  await mkdir(storeDir, { recursive: true });
  await writeFile(join(storeDir, 'LOCK'), '');
  const folder = await storeFolderIdentity(storeDir);
  const lockFile = await storeLockIdentity(storeDir);
  assert.match(lockFile ?? '', /^(born|inode):\d+$/);
  const warned: Warned[] = [];
  // Made before round 33: no LOCK file recorded; kept and bound to the one beside it.
  const id = await installationId(dir, { ...binding(store, PI_A, warned), folder });
  assert.doesNotMatch(await readFile(join(dir, 'installation-id'), 'utf8'), /"lockFile"/);
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder, lockFile }), id);
  assert.match(await readFile(join(dir, 'installation-id'), 'utf8'), /"lockFile":"(born|inode):\d+"/);
  // Restarts (LevelDB opens the same LOCK, written to by nobody): kept.
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder, lockFile: await storeLockIdentity(storeDir) }), id);
  assert.equal(warned.length, 0);
  // tar extracting a backup over the live files: the folder stays, LOCK is made again.
  await run('tar', ['-C', storeDir, '-cf', join(dir, 'b.tar'), 'LOCK']);
  let restored = lockFile;
  for (let i = 0; i < 10_000 && restored === lockFile; i++) {
    await run('tar', ['-C', storeDir, '-xf', join(dir, 'b.tar')]);
    restored = await storeLockIdentity(storeDir);
  }
  assert.equal(await storeFolderIdentity(storeDir), folder, 'the folder is the same');
  assert.notEqual(restored, lockFile);
  const again = await installationId(dir, { ...binding(store, PI_A, warned), folder, lockFile: restored });
  assert.notEqual(again, id);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!.reason, 'restored');
  assert.match(warned[0]!.msg, /its LOCK file was made again: a backup extracted over the live folder/);
  // From then on, kept; without a LOCK to check (a stat that failed), the recorded one stays.
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder, lockFile: restored }), again);
  assert.equal(await installationId(dir, { ...binding(store, PI_A, warned), folder }), again);
  assert.match(await readFile(join(dir, 'installation-id'), 'utf8'), /"lockFile":/);
  assert.equal(warned.length, 1);
});

test('installation id: a damaged id file (garbage, or emptied) is made anew with one warning saying so; a missing one without', async (t) => {
  const dir = await tempDir(t);
  const warned: Warned[] = [];
  const store = await storeIdentity(dir);
  const id = await installationId(dir, binding(store, PI_A, warned));
  assert.equal(warned.length, 0, 'a first start: no warning');
  for (const damage of [Buffer.from([0x17, 0xff, 0x00, 0x42]), Buffer.alloc(0)]) {
    await writeFile(join(dir, 'installation-id'), damage);
    const fresh = await installationId(dir, binding(store, PI_A, warned));
    assert.notEqual(fresh, id);
    assert.equal(await readInstallationId(dir), fresh, 'written whole in place of the damaged one');
    const w = warned.pop();
    assert.ok(w, 'one warning');
    assert.equal(w.reason, 'damaged');
    assert.equal(w.installationId, fresh);
    assert.match(
      w.msg,
      new RegExp(`installation id file .*installation-id was damaged \\(${damage.length} bytes that are not an id\\): a new id ${fresh} is made`),
    );
  }
  await rm(join(dir, 'installation-id'));
  await installationId(dir, binding(store, PI_A, warned));
  assert.equal(warned.length, 0);
});
