// The fingerprint of the machine the installation id was made on (installation-id.ts): a data dir
// copied to another machine (a cloned SD card image made after the gateway ran, a backup restored
// on a second box) must not keep the id, or both machines name different records with the same
// <installation>:<stream>:<seq> upstream (JetStream drops one as a duplicate, S3 keeps one object).
//
// What is read, each skipped when absent or not readable (never an error):
// - /etc/machine-id: kept by a disk image clone (so it alone never finds one), but made anew by an
//   OS installed afresh or an image prepared to be cloned (systemd's "first boot"); read-only root
//   file systems may make a transient one at each boot: so it counts only where the hardware says
//   nothing (machineChanges);
// - the Raspberry Pi's `Serial` (/proc/cpuinfo; else the device tree's serial-number, as other ARM
//   boards and arm64 kernels without the line have it): the board's, never the same on two boards;
// - /sys/class/dmi/id/product_uuid (PCs; often readable by root only): the board's or the VM's;
// - the MAC addresses of physical interfaces (/sys/class/net/<if>/device exists: not a bridge,
//   veth, VLAN or tunnel) that are permanent (addr_assign_type 0: not random nor set by software,
//   as a container's or Wi-Fi privacy address), as a set.
// The choice: a spurious change costs one batch that may arrive twice (a new id is always safe);
// a missed clone costs records lost without a word. So a board id (serial, product_uuid) read at
// both times and different means another machine, machine-id too unless the hardware says it is
// the same board (a board id equal, or a MAC in common); the MACs mean another
// machine only when none of the recorded ones is still there (every interface replaced): a USB
// Wi-Fi dongle plugged in or pulled out later, or one network card of two replaced, keeps the id,
// while a clone on other hardware has none of the original's. Something not readable now (a
// dongle out, product_uuid read as root before) is no evidence either way. A host where nothing is
// readable (a container without /etc/machine-id nor host network) has an empty fingerprint and no
// protection against copies: docs/destinations.md says so.
//
// The values are kept as HMACs (16 hex digits) under a key of this application, as systemd asks
// of machine-id ("sd_id128_get_machine_app_specific"): the file says nothing of the machine's ids.
import { createHmac } from 'node:crypto';
import { access, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface MachineFingerprint {
  machineId?: string;
  cpuSerial?: string;
  productUuid?: string;
  /** The permanent MAC addresses of physical interfaces, sorted (empty: none readable). */
  macs: string[];
}

/** Reads the fingerprint of the machine this runs on (a test gives two "machines" with its own). */
export type ReadMachineFingerprint = () => Promise<MachineFingerprint>;

const SINGLE = ['machineId', 'cpuSerial', 'productUuid'] as const;
/** The ids of the hardware (machine-id is the operating system's). */
const BOARD = ['cpuSerial', 'productUuid'] as const;
const LABELS: Record<(typeof SINGLE)[number] | 'macs', string> = {
  machineId: 'machine-id',
  cpuSerial: 'CPU serial',
  productUuid: 'DMI product_uuid',
  macs: 'MAC addresses',
};
const HASHED = /^[0-9a-f]{16}$/;

function hashed(kind: string, value: string): string {
  return createHmac('sha256', 'gatehouse installation id').update(`${kind}\0${value}`).digest('hex').slice(0, 16);
}

async function text(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

/** Not a value: empty, all zeros (a board without a serial), all f's (unset DMI fields). */
function blank(v: string): boolean {
  return /^[0:-]*$/.test(v) || /^[f:-]*$/i.test(v);
}

/** The fingerprint of this machine, read under `root` (a test gives a tree of its own). */
export async function readMachineFingerprint(root = '/'): Promise<MachineFingerprint> {
  const fp: MachineFingerprint = { macs: [] };
  const machineId = (await text(join(root, 'etc/machine-id')))?.toLowerCase();
  if (machineId && /^[0-9a-f]{32}$/.test(machineId) && !blank(machineId)) fp.machineId = hashed('machine-id', machineId);
  const serial = (
    /^Serial\s*:\s*([0-9a-fA-F]+)\s*$/m.exec((await text(join(root, 'proc/cpuinfo'))) ?? '')?.[1] ??
    (await text(join(root, 'sys/firmware/devicetree/base/serial-number')))?.replace(/\0/g, '').trim()
  )?.toLowerCase();
  if (serial && !blank(serial)) fp.cpuSerial = hashed('serial', serial);
  const uuid = (await text(join(root, 'sys/class/dmi/id/product_uuid')))?.toLowerCase();
  if (uuid && !blank(uuid)) fp.productUuid = hashed('product_uuid', uuid);
  const net = join(root, 'sys/class/net');
  const macs = new Set<string>();
  for (const name of await readdir(net).catch(() => [] as string[])) {
    const dir = join(net, name);
    const physical = await access(join(dir, 'device')).then(
      () => true,
      () => false,
    );
    if (!physical || ((await text(join(dir, 'addr_assign_type'))) ?? '0') !== '0') continue;
    const mac = (await text(join(dir, 'address')))?.toLowerCase();
    if (mac && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && !blank(mac)) macs.add(hashed('mac', mac));
  }
  fp.macs = [...macs].sort();
  return fp;
}

/**
 * What tells `now` apart from the machine `recorded` was taken on (empty: the same machine, as far
 * as what both say goes): the labels of the ids that differ.
 *
 * The board's ids (the Pi's serial, DMI product_uuid) and the MACs are the hardware's; machine-id
 * is the operating system's. A changed machine-id counts only when the hardware says nothing of
 * its own (no board id read at both times, no MAC in common): where it does say "the same board",
 * a new machine-id is the OS's, not another machine's (a read-only root making a transient one at
 * each boot, systemd's first boot after an image was prepared, an OS installed afresh beside a kept
 * data partition), and replacing the id there at every start would send a batch twice each boot.
 * A clone on other hardware still differs by its serial, product_uuid or MACs.
 */
export function machineChanges(recorded: MachineFingerprint, now: MachineFingerprint): string[] {
  const bothRead = (k: (typeof SINGLE)[number]): boolean => recorded[k] !== undefined && now[k] !== undefined;
  const out: string[] = BOARD.filter((k) => bothRead(k) && recorded[k] !== now[k]).map((k) => LABELS[k]);
  const macsRead = recorded.macs.length > 0 && now.macs.length > 0;
  const macInCommon = recorded.macs.some((m) => now.macs.includes(m));
  if (macsRead && !macInCommon) out.push(LABELS.macs);
  const sameBoard = BOARD.some((k) => bothRead(k) && recorded[k] === now[k]) || macInCommon;
  if (bothRead('machineId') && recorded.machineId !== now.machineId && (out.length > 0 || !sameBoard)) out.unshift(LABELS.machineId);
  return out;
}

/** The fingerprint to keep for the same machine: what is read now, and what was recorded for what is not readable now. */
export function mergeMachine(recorded: MachineFingerprint, now: MachineFingerprint): MachineFingerprint {
  const out: MachineFingerprint = { macs: now.macs.length > 0 ? [...now.macs] : [...recorded.macs] };
  for (const k of SINGLE) {
    const v = now[k] ?? recorded[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export function sameFingerprint(a: MachineFingerprint, b: MachineFingerprint): boolean {
  return SINGLE.every((k) => a[k] === b[k]) && a.macs.length === b.macs.length && a.macs.every((m, i) => m === b.macs[i]);
}

/** A fingerprint as kept in the installation id file, or undefined when it is not one. */
export function parseMachine(v: unknown): MachineFingerprint | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!Array.isArray(o.macs) || !o.macs.every((m) => typeof m === 'string' && HASHED.test(m))) return undefined;
  const fp: MachineFingerprint = { macs: [...(o.macs as string[])].sort() };
  for (const k of SINGLE) {
    const x = o[k];
    if (x === undefined) continue;
    if (typeof x !== 'string' || !HASHED.test(x)) return undefined;
    fp[k] = x;
  }
  return fp;
}
