// The data dir's backing read from mountinfo text (gateway/cli/data-dir-ram.ts): RAM (tmpfs, an
// overlay written to tmpfs, as Raspberry Pi OS's overlay file system) or a disk. The sandbox test
// (test/integration/systemd-sandbox.test.ts) checks it on real mounts, as root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ramBacking as onMachine, ramDataDirWarning } from '../../gateway/cli/data-dir-ram.js';

/** The paths as given (they are not on this machine). */
const ramBacking = (dir: string, mountinfo: string): string | undefined => onMachine(dir, mountinfo, (p) => p);

const line = (id: number, point: string, fstype: string, source: string, superOptions: string): string =>
  `${id} 1 0:${id} / ${point} rw,relatime - ${fstype} ${source} ${superOptions}`;

test('a data dir on tmpfs, on an overlay written to tmpfs, or on a disk', () => {
  const card = line(20, '/', 'ext4', '/dev/mmcblk0p2', 'rw');
  assert.equal(ramBacking('/var/lib/gatehouse', card), undefined, 'the SD card');
  assert.equal(ramBacking('/var/lib/gatehouse', [card, line(21, '/var/lib', 'tmpfs', 'tmpfs', 'rw,size=100k')].join('\n')), 'tmpfs');
  // Raspberry Pi OS's overlay root: lower the card (read-only), upper a tmpfs
  const overlayRoot = [
    line(20, '/media/root-ro', 'ext4', '/dev/mmcblk0p2', 'ro'),
    line(21, '/media/root-rw', 'tmpfs', 'tmpfs-root', 'rw'),
    line(22, '/', 'overlay', 'overlayroot', 'rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay,workdir=/media/root-rw/overlay-workdir'),
  ];
  assert.equal(ramBacking('/var/lib/gatehouse', overlayRoot.join('\n')), 'an overlay written to tmpfs');
  // ... with a writable partition mounted at the data dir: a disk
  assert.equal(ramBacking('/var/lib/gatehouse', [...overlayRoot, line(23, '/var/lib/gatehouse', 'ext4', '/dev/sda1', 'rw')].join('\n')), undefined);
  // an overlay written to a disk (a container's root): not RAM
  assert.equal(
    ramBacking(
      '/data',
      [line(20, '/', 'overlay', 'overlay', 'rw,lowerdir=/l,upperdir=/var/up,workdir=/var/wk'), line(21, '/var', 'ext4', '/dev/vda', 'rw')].join('\n'),
    ),
    undefined,
  );
  // a mount point with a space (mountinfo writes it \040)
  assert.equal(ramBacking('/mnt/my data/gh', [card, line(21, '/mnt/my\\040data', 'ramfs', 'ramfs', 'rw')].join('\n')), 'ramfs');
  assert.match(
    ramDataDirWarning('/var/lib/gatehouse', overlayRoot.join('\n')) ?? '',
    /is on an overlay written to tmpfs \(RAM\): what the gateway acknowledges is lost at the next reboot/,
  );
});
