// Telling systemd how the gateway is (sd_notify(3), the unit's Type=notify and WatchdogSec=):
// READY=1 once the store is open and the broker listens, STATUS= lines saying what the start waits
// for, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 at the stop, EXTEND_TIMEOUT_USEC=
// while the start waits for disk space (a wait of hours that is not a hung start), and WATCHDOG=1
// pings while the event loop turns.
//
// Node has no unix datagram sockets, so each message is one run of the `systemd-notify` binary
// (package systemd, v246+). It waits until the manager has read the message (sd_notify_barrier:
// BARRIER=1 with a pipe the manager closes, at most 5 s): the sender is a child of the gateway,
// and a message whose sender exited before PID 1 looked it up is dropped (NotifyAccess=all, as
// the unit sets, cannot attribute it). Hence no --no-block; and no --pid, which sends MAINPID=
// (the gateway already is the main process) and needs privileges the unit does not give.
//
// One run at a time: messages queue behind it (status updates merged, READY, RELOADING, STOPPING
// each a message of its own, in order), a watchdog ping rides with the next run. A run is killed after
// RUN_TIMEOUT_MS. The event loop never waits for a run (spawned, its end an event). A missing
// binary or a failing run is one warning (the first; later ones at debug) and a counter, never an
// error of the gateway: systemd then restarts it for a missed READY=1 (TimeoutStartSec=) or
// pings (WatchdogSec=), which the warning explains.
//
// The pings come from a timer of the event loop: a loop blocked (a bug, a native call that never
// returns) sends none, and systemd kills and restarts the gateway. Nothing else stops them: a
// stalled store commit does not (docs/decisions.md, "systemd readiness and watchdog").
import { spawn as spawnProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../core/metrics.js';
import { errorMessage } from '../../core/errors.js';

/** What the notifier needs of a child process (node's ChildProcess has it; tests give a fake). */
export interface NotifyChild {
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
  /** What the binary said on failure (systemd-notify writes one line to stderr). */
  readonly stderr?: { on(event: 'data', listener: (chunk: Buffer) => void): unknown } | null;
}

/** Start `command args` with exactly `env` (no stdin, no stdout). */
export type SpawnNotify = (command: string, args: readonly string[], env: Record<string, string>) => NotifyChild;

/** Timers (tests drive them by hand). Callbacks of `every` must not keep the process alive. */
export interface NotifyTimers {
  every(ms: number, fn: () => void): () => void;
  after(ms: number, fn: () => void): () => void;
}

export interface ServiceNotifyOptions {
  /** The environment systemd gave the process: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, PATH. */
  env: Readonly<Record<string, string | undefined>>;
  /** This process' id (WATCHDOG_PID names the process the pings are asked of). */
  pid: number;
  log: Logger;
  /** Where gatehouse_systemd_notify_* go. */
  registry?: Registry;
  spawn?: SpawnNotify;
  timers?: NotifyTimers;
  /** CLOCK_MONOTONIC in µs (MONOTONIC_USEC= of RELOADING=1); node's hrtime is that clock on Linux. */
  monotonicUsec?: () => bigint;
  /** The binary (default `systemd-notify`, found on PATH). */
  command?: string;
}

/** A run of systemd-notify that has not ended after this is killed and counted (its barrier waits 5 s). */
export const RUN_TIMEOUT_MS = 10_000;
/** Messages waiting for the run in flight; beyond, the oldest is dropped (counted). */
export const MAX_QUEUED = 16;
/** While the start waits for disk space: EXTEND_TIMEOUT_USEC= this often, for 3 times as long. */
export const EXTEND_EVERY_MS = 20_000;

/** The fields that change the unit's state: a message with one is never merged with another. */
const STATE_FIELDS = ['READY', 'RELOADING', 'STOPPING'];

/**
 * The watchdog ping interval for WATCHDOG_USEC (a quarter of WatchdogSec=: a ping that waits
 * for a run still in flight, or one failed run, is not yet a restart), or undefined when the
 * pings are not asked of this process.
 */
export function pingIntervalMs(env: Readonly<Record<string, string | undefined>>, pid: number): number | undefined {
  if (!env.NOTIFY_SOCKET || !env.WATCHDOG_USEC) return undefined;
  // sd_watchdog_enabled(3): WATCHDOG_PID, when set, must be this process (a child inheriting the
  // environment is not the one watched).
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  return Math.max(1, Math.floor(usec / 4000));
}

const defaultSpawn: SpawnNotify = (command, args, env) => spawnProcess(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });

const defaultTimers: NotifyTimers = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
  // Ref'd: the kill of a run in flight keeps the process until that run ends (a STOPPING=1 sent).
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** One line of a STATUS= value: systemd shows it as is; a newline would end the field. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').slice(0, 512);
}

type Fields = Map<string, string>;

export class ServiceNotifier {
  /** NOTIFY_SOCKET is set: something listens for these messages. */
  readonly enabled: boolean;
  /** Ping interval (ms), undefined without WatchdogSec= for this process. */
  readonly pingEveryMs: number | undefined;
  private readonly env: Record<string, string>;
  private readonly spawn: SpawnNotify;
  private readonly timers: NotifyTimers;
  private readonly command: string;
  private readonly monotonicUsec: () => bigint;
  private readonly queue: Fields[] = [];
  private inFlight = false;
  private pingDue = false;
  /** STOPPING=1 was sent: no READY=1 or RELOADING=1 after it (a SIGHUP's reload ending during the stop). */
  private stopped = false;
  private warned = false;
  private stopPings: (() => void) | undefined;
  private stopExtending: (() => void) | undefined;
  private readonly sent: Counter | undefined;
  private readonly failed: Counter<'reason'> | undefined;
  private readonly pings: Counter | undefined;

  constructor(private readonly o: ServiceNotifyOptions) {
    this.enabled = Boolean(o.env.NOTIFY_SOCKET);
    this.pingEveryMs = pingIntervalMs(o.env, o.pid);
    // Only what systemd-notify needs: the socket, and PATH for nothing else than finding it.
    this.env = { NOTIFY_SOCKET: o.env.NOTIFY_SOCKET ?? '', ...(o.env.PATH !== undefined ? { PATH: o.env.PATH } : {}) };
    this.spawn = o.spawn ?? defaultSpawn;
    this.timers = o.timers ?? defaultTimers;
    this.command = o.command ?? 'systemd-notify';
    this.monotonicUsec = o.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n);
    const r = o.registry;
    this.sent = r && counter(r, 'gatehouse_systemd_notify_sent_total', 'Messages to systemd (NOTIFY_SOCKET) sent by a run of systemd-notify that succeeded');
    this.failed =
      r &&
      counter(
        r,
        'gatehouse_systemd_notify_failures_total',
        'Runs of systemd-notify that failed: spawn (the binary missing or not runnable), exit (it said why in the log), timeout (killed after 10 s), dropped (a message dropped from a full queue)',
        ['reason'] as const,
      );
    this.pings =
      r &&
      counter(r, 'gatehouse_systemd_watchdog_pings_total', 'WATCHDOG=1 pings sent to systemd (WatchdogSec= of the unit); none while the event loop is blocked');
    if (this.pingEveryMs !== undefined) {
      this.stopPings = this.timers.every(this.pingEveryMs, () => this.ping());
      o.log.info({ pingEveryMs: this.pingEveryMs, watchdogUsec: Number(o.env.WATCHDOG_USEC) }, 'systemd watchdog: pinging while the event loop turns');
    }
  }

  /** STATUS=: what `systemctl status gatehouse` shows beside the unit's state. */
  status(text: string): void {
    this.send([['STATUS', oneLine(text)]]);
  }

  /**
   * The start waits for something that may take hours (disk space to open the store): STATUS=text
   * now, and the start timeout extended while `text` is set (undefined ends it). A start whose event
   * loop hangs meanwhile stops extending and is restarted by TimeoutStartSec= as any other.
   */
  waiting(text: string | undefined): void {
    this.stopExtending?.();
    this.stopExtending = undefined;
    if (text === undefined || this.stopped) return;
    const extend = (): void =>
      this.send([
        ['EXTEND_TIMEOUT_USEC', String(EXTEND_EVERY_MS * 3 * 1000)],
        ['STATUS', oneLine(text)],
      ]);
    extend();
    this.stopExtending = this.timers.every(EXTEND_EVERY_MS, extend);
  }

  /** READY=1: the start (or a reload) is complete. */
  ready(text: string): void {
    this.waiting(undefined);
    if (this.stopped) return;
    this.send([
      ['READY', '1'],
      ['STATUS', oneLine(text)],
    ]);
  }

  /** RELOADING=1: a reload runs (ready() ends it). MONOTONIC_USEC= is what Type=notify-reload (systemd 253) asks. */
  reloading(text: string): void {
    if (this.stopped) return;
    this.send([
      ['RELOADING', '1'],
      ['MONOTONIC_USEC', String(this.monotonicUsec())],
      ['STATUS', oneLine(text)],
    ]);
  }

  /** STOPPING=1: the stop runs. The pings go on until the process exits (systemd watches a stop too). */
  stopping(text: string): void {
    this.waiting(undefined);
    this.stopped = true;
    this.send([
      ['STOPPING', '1'],
      ['STATUS', oneLine(text)],
    ]);
  }

  /** No more pings or extensions (messages queued still go). */
  close(): void {
    this.stopPings?.();
    this.stopPings = undefined;
    this.waiting(undefined);
  }

  private ping(): void {
    this.pingDue = true;
    this.next();
  }

  private send(fields: Array<[string, string]>): void {
    if (!this.enabled) return;
    const add = new Map(fields);
    const last = this.queue[this.queue.length - 1];
    // Status updates waiting are merged (the later STATUS= wins: both say what is now); one that
    // changes the state stays a message of its own, in its place (RELOADING=1 then READY=1, and
    // what the start said before READY=1, arrive as sent).
    if (last && !hasState(last) && !hasState(add)) for (const [k, v] of add) last.set(k, v);
    else this.queue.push(add);
    if (this.queue.length > MAX_QUEUED) {
      this.queue.shift();
      this.failed?.inc({ reason: 'dropped' });
    }
    this.next();
  }

  private next(): void {
    if (this.inFlight || !this.enabled) return;
    const fields = this.queue.shift() ?? (this.pingDue ? new Map<string, string>() : undefined);
    if (fields === undefined) return;
    const ping = this.pingDue;
    if (ping) fields.set('WATCHDOG', '1');
    this.pingDue = false;
    this.run(fields, ping);
  }

  private run(fields: Fields, ping: boolean): void {
    const args = [...fields].map(([k, v]) => `${k}=${v}`);
    this.inFlight = true;
    let stderr = '';
    let ended = false;
    let cancelKill = (): void => undefined;
    const end = (reason: 'spawn' | 'exit' | 'timeout' | undefined, detail: string): void => {
      if (ended) return;
      ended = true;
      cancelKill();
      this.inFlight = false;
      if (reason === undefined) {
        this.sent?.inc();
        if (ping) this.pings?.inc();
      } else {
        this.failed?.inc({ reason });
        this.failure(reason, detail, args);
      }
      this.next();
    };
    let child: NotifyChild;
    try {
      child = this.spawn(this.command, args, this.env);
    } catch (err) {
      end('spawn', errorMessage(err));
      return;
    }
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 1000) stderr += d.toString('utf8');
    });
    child.once('error', (err) => end('spawn', errorMessage(err)));
    child.once('close', (code, signal) => {
      if (code === 0) end(undefined, '');
      else end('exit', stderr.trim() || `exit ${code ?? signal}`);
    });
    cancelKill = this.timers.after(RUN_TIMEOUT_MS, () => {
      child.kill('SIGKILL');
      end('timeout', `no end after ${RUN_TIMEOUT_MS / 1000} s (killed): systemd did not take the message`);
    });
  }

  private failure(reason: 'spawn' | 'exit' | 'timeout', detail: string, args: string[]): void {
    const fields = { reason, detail, command: this.command, message: args, socket: this.env.NOTIFY_SOCKET };
    if (this.warned) {
      this.o.log.debug(fields, 'systemd-notify failed again');
      return;
    }
    this.warned = true;
    const what =
      reason === 'spawn'
        ? `${this.command} could not be run (install the Debian package systemd, v246 or later, or put it on the unit's PATH)`
        : `${this.command} failed`;
    this.o.log.warn(
      fields,
      `${what}: systemd is not told the gateway's state (NOTIFY_SOCKET is set: Type=notify); the gateway runs on, but systemd restarts it when READY=1 or the watchdog pings do not come. Logged once; counted in gatehouse_systemd_notify_failures_total`,
    );
  }
}

function hasState(f: Fields): boolean {
  return STATE_FIELDS.some((k) => f.has(k));
}

/**
 * The notifier of this process. NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are taken out of
 * process.env (sd_notify's unset_environment): a child the gateway starts is not the one systemd
 * asked, and with NotifyAccess=all its messages would count.
 */
export function processNotifier(log: Logger, registry: Registry | undefined): ServiceNotifier {
  const env = { ...process.env };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
  return new ServiceNotifier({ env, pid: process.pid, log, ...(registry ? { registry } : {}) });
}
