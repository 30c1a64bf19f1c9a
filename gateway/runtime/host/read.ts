// What host health reads, and where. The files are found once (probeHost, at start): a PC without
// a Pi's firmware or an eMMC has none of those files, and nothing is read or said about them
// after. Each read (readHost) is a few small sysfs/procfs files read as the gateway's own user: no
// root, no child process (vcgencmd forks and needs the video group). `root` is '/' but for tests,
// which build a fake tree in a temp dir (no Pi here).
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  parseEmmcLifeTime,
  parseMeminfo,
  parseMilliCelsius,
  parsePreEol,
  parsePressure,
  parseThrottled,
  type EmmcLife,
  type PreEol,
  type Pressure,
  type Throttled,
} from './parse.js';

export const THROTTLED_FILE = 'sys/devices/platform/soc/soc:firmware/get_throttled';
export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];

export interface HostFiles {
  root: string;
  /** thermal_zoneN folders and their type ("cpu-thermal", "x86_pkg_temp"). */
  thermal: Array<{ zone: string; type: string; file: string }>;
  throttled?: string;
  /**
   * The hwmon "rpi_volt" sensor's in0_lcrit_alarm (1 while under-voltage): newer Raspberry Pi OS
   * kernels have it beside get_throttled, which they mark deprecated (one kernel warning at its first read).
   */
  underVoltageAlarm?: string;
  pressure: Array<{ resource: PressureResource; file: string }>;
  emmc: Array<{ device: string; lifeTime?: string; preEol?: string }>;
  meminfo?: string;
}

export interface HostSample {
  /** Wall time of the read (epoch ms). */
  at: number;
  temperatures: Array<{ zone: string; type: string; celsius: number }>;
  throttled?: Throttled;
  /** The hwmon under-voltage alarm, where the kernel has it. */
  underVoltageAlarm?: boolean;
  pressure: Partial<Record<PressureResource, Pressure>>;
  emmc: Array<{ device: string; preEol?: PreEol } & EmmcLife>;
  memory?: { totalBytes: number; availableBytes: number };
  /** Files found at start that could not be read or parsed this time: "path: why". */
  problems: string[];
}

async function text(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Names in order with their trailing numbers compared as numbers (thermal_zone2 before
 * thermal_zone10, mmcblk0 before mmcblk1). Not localeCompare with a locale: its first call loads
 * ICU's collation data, 3.2 MiB of an idle gateway's RSS for good (issue 15).
 */
export function byTrailingNumber(a: string, b: string): number {
  const [, ah = a, an] = /^(.*?)(\d+)$/.exec(a) ?? [];
  const [, bh = b, bn] = /^(.*?)(\d+)$/.exec(b) ?? [];
  if (ah !== bh) return ah < bh ? -1 : 1;
  return (an === undefined ? -1 : Number(an)) - (bn === undefined ? -1 : Number(bn));
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort(byTrailingNumber);
  } catch {
    return [];
  }
}

/** Which of the files exist here (read once, at start). */
export async function probeHost(root = '/'): Promise<HostFiles> {
  const at = (p: string): string => join(root, p);
  const files: HostFiles = { root, thermal: [], pressure: [], emmc: [] };
  for (const zone of (await list(at('sys/class/thermal'))).filter((z) => /^thermal_zone\d+$/.test(z))) {
    const file = at(`sys/class/thermal/${zone}/temp`);
    if ((await text(file)) === undefined) continue;
    files.thermal.push({ zone, type: ((await text(at(`sys/class/thermal/${zone}/type`))) ?? zone).trim(), file });
  }
  if ((await text(at(THROTTLED_FILE))) !== undefined) files.throttled = at(THROTTLED_FILE);
  for (const h of (await list(at('sys/class/hwmon'))).filter((n) => n.startsWith('hwmon'))) {
    if ((await text(at(`sys/class/hwmon/${h}/name`)))?.trim() !== 'rpi_volt') continue;
    const alarm = at(`sys/class/hwmon/${h}/in0_lcrit_alarm`);
    if ((await text(alarm)) !== undefined) files.underVoltageAlarm = alarm;
  }
  for (const resource of PRESSURE_RESOURCES) {
    const file = at(`proc/pressure/${resource}`);
    // A kernel built with PSI but booted without it (psi=0) has the files and refuses their read (EOPNOTSUPP).
    if ((await text(file)) !== undefined) files.pressure.push({ resource, file });
  }
  for (const device of (await list(at('sys/block'))).filter((d) => /^mmcblk\d+$/.test(d))) {
    const lifeTime = at(`sys/block/${device}/device/life_time`);
    const preEol = at(`sys/block/${device}/device/pre_eol_info`);
    const has = { life: (await text(lifeTime)) !== undefined, eol: (await text(preEol)) !== undefined };
    if (has.life || has.eol) files.emmc.push({ device, ...(has.life ? { lifeTime } : {}), ...(has.eol ? { preEol } : {}) });
  }
  if ((await text(at('proc/meminfo'))) !== undefined) files.meminfo = at('proc/meminfo');
  return files;
}

/** Whether anything at all was found (nothing is read, no timer runs, otherwise). */
export function anyHostFiles(f: HostFiles): boolean {
  return (
    f.thermal.length > 0 ||
    f.throttled !== undefined ||
    f.underVoltageAlarm !== undefined ||
    f.pressure.length > 0 ||
    f.emmc.length > 0 ||
    f.meminfo !== undefined
  );
}

/** Read what probeHost found. Never throws: a file that fails is a problem of the sample. */
export async function readHost(files: HostFiles, now: () => number = Date.now): Promise<HostSample> {
  const sample: HostSample = { at: now(), temperatures: [], pressure: {}, emmc: [], problems: [] };
  const parsed = async <T>(file: string, parse: (t: string) => T | undefined): Promise<T | undefined> => {
    const t = await text(file);
    const v = t === undefined ? undefined : parse(t);
    if (v === undefined) sample.problems.push(`${file}: ${t === undefined ? 'not readable' : `unexpected content ${JSON.stringify(t.trim().slice(0, 40))}`}`);
    return v;
  };
  for (const z of files.thermal) {
    const celsius = await parsed(z.file, parseMilliCelsius);
    if (celsius !== undefined) sample.temperatures.push({ zone: z.zone, type: z.type, celsius });
  }
  if (files.throttled) {
    const t = await parsed(files.throttled, parseThrottled);
    if (t) sample.throttled = t;
  }
  if (files.underVoltageAlarm) {
    const a = await parsed(files.underVoltageAlarm, (t) => (/^[01]$/.test(t.trim()) ? t.trim() === '1' : undefined));
    if (a !== undefined) sample.underVoltageAlarm = a;
  }
  for (const p of files.pressure) {
    const v = await parsed(p.file, parsePressure);
    if (v) sample.pressure[p.resource] = v;
  }
  for (const e of files.emmc) {
    const life = e.lifeTime ? await parsed(e.lifeTime, parseEmmcLifeTime) : undefined;
    const preEol = e.preEol ? await parsed(e.preEol, parsePreEol) : undefined;
    sample.emmc.push({ device: e.device, ...life, ...(preEol ? { preEol } : {}) });
  }
  if (files.meminfo) {
    const m = await parsed(files.meminfo, parseMeminfo);
    if (m) sample.memory = m;
  }
  return sample;
}

/** Under-voltage now, by the firmware's flags or the hwmon alarm (whichever the kernel has). */
export function underVoltageNow(s: HostSample): boolean | undefined {
  if (s.throttled) return s.throttled.now.underVoltage || s.underVoltageAlarm === true;
  return s.underVoltageAlarm;
}
