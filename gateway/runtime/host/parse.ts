// Parsers of the kernel files host health reads (host/read.ts): each takes a file's text and
// returns its figures, or undefined when the text is not what the kernel writes there (a file
// that exists but says something else is reported as unreadable, never as a zero).

/**
 * The Raspberry Pi firmware's throttling flags. The bit layout is the firmware's, documented for
 * `vcgencmd get_throttled` (https://www.raspberrypi.com/documentation/computers/os.html#get_throttled):
 * bit 0 under-voltage detected, 1 Arm frequency capped, 2 currently throttled, 3 soft temperature
 * limit active; bits 16-19 the same four "has occurred since boot". The kernel's
 * /sys/devices/platform/soc/soc:firmware/get_throttled prints that word in hex without 0x
 * (drivers/firmware/raspberrypi.c, get_throttled_show: sprintf("%x\n")).
 */
export interface ThrottleFlags {
  underVoltage: boolean;
  frequencyCapped: boolean;
  throttled: boolean;
  softTempLimit: boolean;
}

export interface Throttled {
  raw: number;
  now: ThrottleFlags;
  sinceBoot: ThrottleFlags;
}

/** The flag names as metric labels (gatehouse_host_throttle_*{flag}), in bit order. */
export const THROTTLE_FLAGS = ['under_voltage', 'frequency_capped', 'throttled', 'soft_temp_limit'] as const;
export type ThrottleFlagName = (typeof THROTTLE_FLAGS)[number];

const FLAG_KEYS: Record<ThrottleFlagName, keyof ThrottleFlags> = {
  under_voltage: 'underVoltage',
  frequency_capped: 'frequencyCapped',
  throttled: 'throttled',
  soft_temp_limit: 'softTempLimit',
};

export function flagOf(flags: ThrottleFlags, name: ThrottleFlagName): boolean {
  return flags[FLAG_KEYS[name]];
}

function flagsAt(word: number, shift: number): ThrottleFlags {
  const bit = (n: number): boolean => ((word >>> (shift + n)) & 1) === 1;
  return { underVoltage: bit(0), frequencyCapped: bit(1), throttled: bit(2), softTempLimit: bit(3) };
}

export function parseThrottled(text: string): Throttled | undefined {
  // "50005" from sysfs; "throttled=0x50005" from vcgencmd (pasted into a test, a support mail)
  const m = /^(?:throttled=)?(?:0x)?([0-9a-f]{1,8})$/i.exec(text.trim());
  if (!m) return undefined;
  const raw = Number.parseInt(m[1]!, 16);
  return { raw, now: flagsAt(raw, 0), sinceBoot: flagsAt(raw, 16) };
}

/** The flags set in a word, in words: "under-voltage now, throttling since boot". */
export function describeThrottled(t: Throttled): string {
  const words: Record<keyof ThrottleFlags, string> = {
    underVoltage: 'under-voltage',
    frequencyCapped: 'frequency capped',
    throttled: 'throttled',
    softTempLimit: 'soft temperature limit',
  };
  const keys = Object.keys(words) as Array<keyof ThrottleFlags>;
  const now = keys.filter((k) => t.now[k]).map((k) => `${words[k]} now`);
  const past = keys.filter((k) => t.sinceBoot[k] && !t.now[k]).map((k) => `${words[k]} since boot`);
  const all = [...now, ...past];
  return all.length === 0 ? 'none' : all.join(', ');
}

/** A thermal zone's temp file: millidegrees Celsius ("48312"). Some drivers write -273000 or huge values when no sensor answers. */
export function parseMilliCelsius(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d{1,7}$/.test(t)) return undefined;
  const c = Number(t) / 1000;
  return c < -60 || c > 200 ? undefined : c;
}

/** One resource of /proc/pressure/{cpu,memory,io}: "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" (and a "full" line). */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Microseconds stalled since boot. */
  totalUs: number;
}

export interface Pressure {
  some?: PressureLine;
  full?: PressureLine;
}

export function parsePressure(text: string): Pressure | undefined {
  const out: Pressure = {};
  for (const line of text.split('\n')) {
    const m = /^(some|full) avg10=(\d+(?:\.\d+)?) avg60=(\d+(?:\.\d+)?) avg300=(\d+(?:\.\d+)?) total=(\d+)$/.exec(line.trim());
    if (!m) continue;
    out[m[1] as 'some' | 'full'] = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), totalUs: Number(m[5]) };
  }
  return out.some || out.full ? out : undefined;
}

/**
 * eMMC wear (JEDEC JESD84-B51, EXT_CSD DEVICE_LIFE_TIME_EST_TYP_A/B and PRE_EOL_INFO, which the
 * kernel's mmc driver shows as /sys/block/mmcblkN/device/life_time "0x01 0x02" and pre_eol_info
 * "0x01"). Life time: 0x01 is 0-10% of the rated erase cycles used, ... 0x0a 90-100%, 0x0b past
 * it; 0x00 not defined by the device. Pre-EOL: 0x01 normal, 0x02 warning (80% of the reserved
 * blocks used), 0x03 urgent. SD cards have neither file; an eMMC (Compute Module, industrial PCs) has.
 */
export interface EmmcLife {
  /** Upper bound of the used share of type A/B cells: 0.1 .. 1.0, 1.1 once past the rating; undefined when the device does not say. */
  usedA?: number;
  usedB?: number;
}

export function parseEmmcLifeTime(text: string): EmmcLife | undefined {
  const m = /^0x([0-9a-f]{2})\s+0x([0-9a-f]{2})$/i.exec(text.trim());
  if (!m) return undefined;
  const band = (hex: string): number | undefined => {
    const n = Number.parseInt(hex, 16);
    return n >= 1 && n <= 11 ? n / 10 : undefined;
  };
  const a = band(m[1]!);
  const b = band(m[2]!);
  return { ...(a !== undefined ? { usedA: a } : {}), ...(b !== undefined ? { usedB: b } : {}) };
}

export type PreEol = 'normal' | 'warning' | 'urgent';

export function parsePreEol(text: string): PreEol | undefined {
  const m = /^0x([0-9a-f]{2})$/i.exec(text.trim());
  if (!m) return undefined;
  return ({ 1: 'normal', 2: 'warning', 3: 'urgent' } as Record<number, PreEol>)[Number.parseInt(m[1]!, 16)];
}

/** /proc/meminfo's MemTotal and MemAvailable, bytes (the kernel writes kB). */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } | undefined {
  const kb = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const totalBytes = kb('MemTotal');
  const availableBytes = kb('MemAvailable');
  return totalBytes !== undefined && availableBytes !== undefined ? { totalBytes, availableBytes } : undefined;
}
