// Keeps one serial port open: opens it, retries with capped exponential backoff and jitter when
// opening fails or the port is lost, and watches the device path for hot-plug. A hang-up closes the
// port on its next read (core/serial-binding.ts); the path is also stat'ed periodically and its
// device number compared, for a path gone or now naming another device (a quick replug).
// The link reacts through hooks; this module never reads or writes frames.
import { stat } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import type { SerialPort } from 'serialport';
import { ERRORS, type GatehouseError } from '../core/errors.js';
import type { SerialLinkOptions } from './options.js';

/** serialport's Linux binding exposes its fd poller; polling for 'disconnect' makes pty hang-ups surface. */
interface PollerHolder {
  poller?: EventEmitter;
}

export interface PortKeeperHooks {
  /** The port opened: attach the reader and the writer. */
  opened(port: SerialPort): void;
  /** Opening failed (GH_SERIAL_OPEN); a retry is scheduled. `attempt` is 0 for the first failure in a row. */
  openFailed(err: GatehouseError, attempt: number): void;
  /** The open port failed, closed or vanished; it is already dropped and closing, a retry is scheduled. */
  lost(err: Error): void;
  /** Periodic, while the port is open (e.g. flush idle partial frames). */
  tick(): void;
}

export class PortKeeper {
  private current: SerialPort | null = null;
  /** The serialport class, loaded by start(). */
  private SerialPortCtor: typeof SerialPort | undefined;
  /** Options with the binding that reports a hung-up device (core/serial-binding.ts), loaded by start(). */
  private withBinding: <T extends object>(options: T) => T = (o) => o;
  private isOpen = false;
  private stopped = true;
  private attempt = 0;
  /** Counts start() calls: a start whose serialport import resolves after a later start does nothing. */
  private starts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private watching = false;
  private rdev = -1;
  /** Settles once the last open() called back (and the port it opened after a release is closed). */
  private opening: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: SerialLinkOptions,
    /** Tick period: the path watch and the idle-frame check share one timer. */
    private readonly tickMs: number,
    private readonly hooks: PortKeeperHooks,
  ) {}

  /** The current port (opening or open), or null while retrying / stopped. */
  get port(): SerialPort | null {
    return this.current;
  }

  /** Start the watch and the first open; resolves after that first attempt, open or not. */
  start(): Promise<void> {
    this.stopped = false;
    this.attempt = 0;
    const run = ++this.starts;
    // serialport (and its native binding) loads when a serial link starts, not with every gateway.
    return Promise.all([import('serialport'), import('../core/serial-binding.js')]).then(([{ SerialPort: ctor }, { hangUpAware }]) => {
      this.SerialPortCtor = ctor;
      this.withBinding = hangUpAware;
      // Released meanwhile, or released and started again (that start goes on; this one is over):
      // two went on before, each with its own watch timer and open, and the first timer was never cleared.
      if (this.stopped || run !== this.starts) return;
      this.watchTimer = setInterval(this.watch, this.tickMs);
      this.watchTimer.unref();
      return new Promise<void>((resolve) => this.openPort(resolve));
    });
  }

  /**
   * Stop retrying and watching (at once), and close the port; resolves once it is closed. A port
   * still opening is closed once its open() calls back: it used to open after the release, and
   * its fd and lock stayed held (the next open of the path failed with "Cannot lock port").
   */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.retryTimer = this.watchTimer = null;
    const port = this.current;
    this.current = null;
    this.isOpen = false;
    if (port?.isOpen) await closeQuietly(port);
    await this.opening;
  }

  private openPort(done?: () => void): void {
    if (this.stopped) {
      done?.();
      return;
    }
    const o = this.o;
    const port = new (this.SerialPortCtor as typeof SerialPort)(
      this.withBinding({
        path: o.path,
        baudRate: o.baudRate,
        dataBits: o.dataBits,
        parity: o.parity,
        stopBits: o.stopBits,
        autoOpen: false,
      }),
    );
    this.current = port;
    let settled!: () => void;
    this.opening = new Promise<void>((resolve) => {
      settled = resolve;
    });
    // Listeners are per port object; events from a replaced port are ignored.
    port.on('error', (err: Error) => this.lost(port, err));
    port.on('close', (err: Error | null) => this.lost(port, err ?? new Error('port closed')));
    port.open((err) => {
      if (this.current !== port) {
        // Released (stopped) or dropped while it opened: a port that opened anyway is closed
        // (release() waits for it).
        if (err) settled();
        else void closeQuietly(port).then(settled);
        done?.();
        return;
      }
      settled();
      if (err) {
        this.current = null;
        this.isOpen = false;
        port.removeAllListeners();
        port.on('error', () => undefined);
        const failure = ERRORS.GH_SERIAL_OPEN(
          { path: o.path, reason: err.message },
          {
            where: `serial.${o.name}.path`,
            hint: openHint(err.message),
          },
        );
        this.hooks.openFailed(failure, this.attempt);
        this.scheduleRetry();
        done?.();
        return;
      }
      this.attempt = 0;
      this.isOpen = true;
      const poller = (port.port as PollerHolder | undefined)?.poller;
      if (poller && typeof poller.once === 'function') poller.once('disconnect', () => undefined);
      this.rdev = -1;
      stat(o.path).then(
        (s) => {
          if (this.current === port) this.rdev = s.rdev;
        },
        () => undefined,
      );
      this.hooks.opened(port);
      done?.();
    });
  }

  /** The port failed, closed or vanished: drop it and retry with backoff. Never throws. */
  private lost(port: SerialPort, err: Error): void {
    if (this.current !== port || this.stopped) return;
    this.current = null;
    this.isOpen = false;
    port.removeAllListeners('data');
    port.on('error', () => undefined);
    void closeQuietly(port);
    this.hooks.lost(err);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const r = this.o.reconnect;
    const base = Math.min(r.maxMs, r.initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Equal jitter: half fixed, half random, so many links don't retry in lockstep.
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.openPort();
    }, delay);
    this.retryTimer.unref();
  }

  /** Periodic: the link's tick, then device path gone or replaced (USB unplug). */
  private readonly watch = (): void => {
    const port = this.current;
    if (!port || !this.isOpen) return;
    this.hooks.tick();
    if (this.watching) return;
    this.watching = true;
    stat(this.o.path).then(
      (s) => {
        this.watching = false;
        if (this.rdev >= 0 && s.rdev !== this.rdev) this.lost(port, new Error('device path now points to another device'));
      },
      (err: Error) => {
        this.watching = false;
        this.lost(port, err);
      },
    );
  };
}

/**
 * What to do about a port that did not open, by its cause: "plugged in?" and "dialout group?" are
 * wrong leads for a port that another program (or another link) holds.
 */
export function openHint(reason: string, retries = 'the link retries by itself'): string {
  if (/no such file|ENOENT/i.test(reason)) return `the device is not there: check it is plugged in and the path (prefer /dev/serial/by-id/...); ${retries}`;
  // EPERM is the devices cgroup (systemd's DeviceAllow=), not the file's mode: under the unit a pty
  // was told to join the dialout group the gateway's user is already in.
  if (/operation not permitted|EPERM/i.test(reason))
    return `the device's class is not allowed to the gateway: the systemd unit allows ttyS, ttyUSB, ttyACM and ttyAMA (a driver loaded after the unit started: restart it); another class, a pty (/dev/pts) or a vendor driver's tty, needs 'sudo systemctl edit gatehouse' with [Service] DeviceAllow=char-NAME rw, NAME from /proc/devices (docs/firmware-bridge.md#under-the-systemd-unit); ${retries}`;
  if (/permission denied|EACCES/i.test(reason))
    return `the gateway user may not open it: add the user to the dialout group (or the device's group); ${retries}`;
  if (/cannot lock|resource temporarily unavailable|EBUSY|EAGAIN/i.test(reason))
    return `another process holds the port open (a terminal program, ModemManager, another gateway), or another serial link or Modbus source of this gateway opens the same device under another path (/dev/ttyUSB0 and its /dev/serial/by-id/... link are one port): fuser -v on the path names the process; stop it; ${retries}`;
  if (/inappropriate ioctl|ENOTTY|is a directory|EISDIR/i.test(reason))
    return 'the path is not a serial device (a regular file or a directory?): point it at the tty, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...';
  return `check the device path, permissions (dialout group) and cable; ${retries}`;
}

export async function closeQuietly(port: SerialPort): Promise<void> {
  if (!port.isOpen) return;
  await new Promise<void>((resolve) => {
    try {
      port.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
