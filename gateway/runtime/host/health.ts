// The health of the board the gateway runs on: temperatures, the Raspberry Pi firmware's
// under-voltage and throttling flags, pressure stall (PSI), eMMC wear, memory available. The files
// are found once at start (host/read.ts) and read every HOST_READ_EVERY_MS, a timer unref'd;
// where none exists (a container, a PC without them) nothing is declared, read or logged after
// the one start line. Metrics (gatehouse_host_*) are set at each read, and declared only for what
// exists: a PC exports no throttling gauge that would read as "never throttled".
// Transitions are logged once each (under-voltage began / ended), never per read.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { counter, gauge } from '../../../core/metrics.js';
import { errorMessage } from '../../../core/errors.js';
import { anyHostFiles, probeHost, readHost, underVoltageNow, type HostFiles, type HostSample } from './read.js';
import { THROTTLE_FLAGS, describeThrottled, flagOf } from './parse.js';

/** Every 30 s: temperatures and flags change over minutes; a short dip of the supply is kept by the firmware's since-boot bits. */
export const HOST_READ_EVERY_MS = 30_000;

/** The metric names (declared only where their files exist; the alert rules' test lists them as exported). */
const M = {
  temperature: 'gatehouse_host_temperature_celsius',
  active: 'gatehouse_host_throttle_active',
  occurred: 'gatehouse_host_throttle_occurred',
  stalled: 'gatehouse_host_pressure_stalled_seconds_total',
  emmcUsed: 'gatehouse_host_emmc_life_used_ratio',
  emmcEol: 'gatehouse_host_emmc_pre_eol',
  memAvailable: 'gatehouse_host_memory_available_bytes',
  memTotal: 'gatehouse_host_memory_total_bytes',
} as const;
export const HOST_METRICS: readonly string[] = Object.values(M);

export interface HostHealthOptions {
  logger: Logger;
  registry: Registry;
  /** Root of /sys and /proc: '/' but in tests (a fake tree in a temp dir). */
  root?: string;
  everyMs?: number;
}

export interface HostHealth {
  readonly files: HostFiles;
  /** The last read (undefined when nothing exists to read). */
  current(): HostSample | undefined;
  /** Read now (tests; the timer's reads go through it too). */
  refresh(): Promise<HostSample | undefined>;
  /** Lines for /healthz's warning: under-voltage, throttling, a worn eMMC. */
  warnings(): string[];
  stop(): void;
}

/** What each file found at start is, for the one start line. */
function describeFiles(f: HostFiles): string {
  const parts = [
    f.thermal.length > 0 ? `temperature (${f.thermal.map((t) => t.type).join(', ')})` : '',
    f.throttled ? 'Raspberry Pi throttling flags' : '',
    f.underVoltageAlarm ? 'under-voltage alarm (rpi_volt)' : '',
    f.pressure.length > 0 ? `pressure stall (${f.pressure.map((p) => p.resource).join(', ')})` : '',
    f.emmc.length > 0 ? `eMMC wear (${f.emmc.map((e) => e.device).join(', ')})` : '',
    f.meminfo ? 'memory available' : '',
  ];
  return parts.filter((p) => p !== '').join(', ');
}

export async function startHostHealth(opts: HostHealthOptions): Promise<HostHealth> {
  const log = opts.logger;
  const files = await probeHost(opts.root);
  let last: HostSample | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  if (!anyHostFiles(files)) {
    log.info('host health: no temperature, throttling, pressure or eMMC files here; nothing is read');
    return { files, current: () => undefined, refresh: async () => undefined, warnings: () => [], stop() {} };
  }
  log.info({ reads: describeFiles(files), everySeconds: (opts.everyMs ?? HOST_READ_EVERY_MS) / 1000 }, 'host health: reading');
  const r = opts.registry;
  const temperature =
    files.thermal.length > 0
      ? gauge(r, M.temperature, 'Temperature of each thermal zone of the board (sysfs thermal_zone*/temp), by zone and its type (cpu-thermal on a Pi).', [
          'zone',
          'type',
        ])
      : undefined;
  const hasFlags = files.throttled !== undefined || files.underVoltageAlarm !== undefined;
  const active = hasFlags
    ? gauge(r, M.active, 'Raspberry Pi firmware flags now, 1 or 0: under_voltage (the supply below 4.63 V), frequency_capped, throttled, soft_temp_limit.', [
        'flag',
      ])
    : undefined;
  const occurred = files.throttled
    ? gauge(r, M.occurred, 'Raspberry Pi firmware flags seen since boot (kept until reboot, so a dip between reads shows), 1 or 0, by flag.', ['flag'])
    : undefined;
  const stalled =
    files.pressure.length > 0
      ? counter(
          r,
          M.stalled,
          'Time tasks stalled waiting for a resource since boot (/proc/pressure, PSI): kind some (at least one task) or full (all non-idle tasks).',
          ['resource', 'kind'],
        )
      : undefined;
  const emmcUsed = files.emmc.some((e) => e.lifeTime)
    ? gauge(
        r,
        M.emmcUsed,
        'eMMC wear: upper bound of the share of the rated erase cycles used (0.1 to 1.0; 1.1 past the rating), by device and cells (A or B), as the device estimates it.',
        ['device', 'cells'],
      )
    : undefined;
  const emmcEol = files.emmc.some((e) => e.preEol)
    ? gauge(r, M.emmcEol, 'eMMC reserved blocks (pre_eol_info): 1 normal, 2 warning (80% used), 3 urgent.', ['device'])
    : undefined;
  const memAvailable = files.meminfo
    ? gauge(r, M.memAvailable, 'Memory the machine could give new work without swapping (MemAvailable of /proc/meminfo).')
    : undefined;
  const memTotal = files.meminfo ? gauge(r, M.memTotal, 'Memory of the machine (MemTotal of /proc/meminfo).') : undefined;

  const publish = (s: HostSample): void => {
    for (const t of s.temperatures) temperature?.set({ zone: t.zone, type: t.type }, t.celsius);
    if (s.throttled) {
      for (const flag of THROTTLE_FLAGS) {
        active?.set({ flag }, flagOf(s.throttled.now, flag) ? 1 : 0);
        occurred?.set({ flag }, flagOf(s.throttled.sinceBoot, flag) ? 1 : 0);
      }
    }
    const uv = underVoltageNow(s);
    if (uv !== undefined) active?.set({ flag: 'under_voltage' }, uv ? 1 : 0);
    if (stalled) {
      stalled.reset();
      for (const [resource, p] of Object.entries(s.pressure)) {
        if (p.some) stalled.inc({ resource, kind: 'some' }, p.some.totalUs / 1e6);
        if (p.full) stalled.inc({ resource, kind: 'full' }, p.full.totalUs / 1e6);
      }
    }
    for (const e of s.emmc) {
      if (e.usedA !== undefined) emmcUsed?.set({ device: e.device, cells: 'A' }, e.usedA);
      if (e.usedB !== undefined) emmcUsed?.set({ device: e.device, cells: 'B' }, e.usedB);
      if (e.preEol) emmcEol?.set({ device: e.device }, { normal: 1, warning: 2, urgent: 3 }[e.preEol]);
    }
    if (s.memory) {
      memAvailable?.set(s.memory.availableBytes);
      memTotal?.set(s.memory.totalBytes);
    }
  };

  // One line per transition, compared with the read before (the first read says what it finds already set).
  const transitions = (s: HostSample, before: HostSample | undefined): void => {
    const uvNow = underVoltageNow(s);
    const uvBefore = before ? underVoltageNow(before) : false;
    if (uvNow === true && uvBefore !== true)
      log.warn(
        { throttled: s.throttled ? `0x${s.throttled.raw.toString(16)}` : undefined },
        'host: under-voltage began: the power supply cannot hold 5 V (a weak supply or a thin cable: SD card corruption follows); use the official supply',
      );
    if (uvNow === false && uvBefore === true) log.info('host: under-voltage ended');
    if (!before && uvNow === false && s.throttled?.sinceBoot.underVoltage)
      log.warn('host: under-voltage occurred since boot (the firmware kept the flag): the power supply dips under load');
    const thrNow = s.throttled ? s.throttled.now.throttled || s.throttled.now.frequencyCapped : undefined;
    const thrBefore = before?.throttled ? before.throttled.now.throttled || before.throttled.now.frequencyCapped : false;
    if (s.throttled && thrNow && !thrBefore)
      log.warn({ flags: describeThrottled(s.throttled) }, 'host: the CPU is throttled (heat or under-voltage): the gateway runs slower');
    if (s.throttled && thrNow === false && thrBefore) log.info('host: CPU throttling ended');
    for (const e of s.emmc) {
      const was = before?.emmc.find((b) => b.device === e.device)?.preEol ?? 'normal';
      if (e.preEol && e.preEol !== 'normal' && e.preEol !== was)
        log.warn({ device: e.device, preEol: e.preEol }, 'host: the eMMC is wearing out (pre-EOL): plan its replacement; the data dir lives on it');
    }
  };

  let reading: Promise<HostSample | undefined> | undefined;
  const refresh = (): Promise<HostSample | undefined> =>
    (reading ??= readHost(files)
      .then((s) => {
        publish(s);
        transitions(s, last);
        last = s;
        return s;
      })
      .catch((err: unknown) => {
        log.warn({ err: errorMessage(err) }, 'host health: read failed');
        return last;
      })
      .finally(() => {
        reading = undefined;
      }));
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void refresh().finally(schedule), opts.everyMs ?? HOST_READ_EVERY_MS).unref();
  };
  await refresh();
  schedule();
  return {
    files,
    current: () => last,
    refresh,
    warnings() {
      const s = last;
      if (!s) return [];
      const out: string[] = [];
      if (underVoltageNow(s)) out.push('the board is under-voltage now: a weak power supply (SD card corruption follows)');
      else if (s.throttled?.sinceBoot.underVoltage) out.push('the board was under-voltage since boot: the power supply dips under load');
      if (s.throttled && (s.throttled.now.throttled || s.throttled.now.frequencyCapped)) out.push(`the CPU is throttled (${describeThrottled(s.throttled)})`);
      for (const e of s.emmc) if (e.preEol === 'warning' || e.preEol === 'urgent') out.push(`eMMC ${e.device} is wearing out (pre-EOL ${e.preEol})`);
      return out;
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** The host part of /api/overview (and `gatehouse status`, `gatehouse diagnose`): null where nothing is read. */
export function hostOverview(h: HostHealth | undefined): Record<string, unknown> | null {
  const s = h?.current();
  return s ? sampleOverview(s) : null;
}

/** One read as /api/overview shows it (`gatehouse diagnose` reads once, without a watcher). */
export function sampleOverview(s: HostSample): Record<string, unknown> {
  return {
    readAt: new Date(s.at).toISOString(),
    temperatures: s.temperatures,
    throttled: s.throttled
      ? { raw: `0x${s.throttled.raw.toString(16)}`, now: s.throttled.now, sinceBoot: s.throttled.sinceBoot, text: describeThrottled(s.throttled) }
      : null,
    underVoltage: underVoltageNow(s) ?? null,
    pressure: Object.fromEntries(Object.entries(s.pressure).map(([k, p]) => [k, { someAvg60: p.some?.avg60 ?? null, fullAvg60: p.full?.avg60 ?? null }])),
    emmc: s.emmc,
    memory: s.memory ?? null,
    ...(s.problems.length > 0 ? { problems: s.problems } : {}),
  };
}
