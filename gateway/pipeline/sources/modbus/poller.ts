// The Modbus source: one loop per connection that (re)connects with backoff, runs each poll group
// when it is due, decodes the values, submits them to the intake and awaits their commit before
// the cycle counts as read, and runs queued downlink writes between polls. One loop means one
// request in flight per connection: RTU devices on one bus are polled in turn by construction.
// Every await is bounded (request guard timers, stop() abandons pending commits), so the loop
// cannot hang; a device that stops answering is retried with backoff without delaying the others.
// What happens inside one poll (its requests, what each failure means, the commit) is group-poll.ts.
import type { SourceDeps } from '../kind.js';
import type { Intake, Source, SourceStatus } from '../../contract.js';
import { errorMessage } from '../../../../core/errors.js';
import { clocksOf } from '../../../../core/clock.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { backoffMs, industrialMetrics, type IndustrialMetrics } from '../industrial-metrics.js';
import { type ModbusLink, ModbusRequestError } from './link.js';
import type { ModbusOptions } from './options.js';
import { advanceSchedule, buildDevices, deviceStatus, nextDueGroup, type DeviceState, type GroupState } from './state.js';
import { CommandQueue, type PendingWrite } from './commands.js';
import { Outages } from './outage.js';
import { GroupPoll } from './group-poll.js';

const KIND = 'modbus';

export class ModbusSource implements Source {
  readonly kind = KIND;
  readonly name: string;
  /** Wall time: the values' timestamps and lastGoodRead. */
  private readonly now: () => number;
  /** Monotonic time: the poll schedule, backoff, gaps (a wall clock step must not stop or burst the polls). */
  private readonly mono: () => number;
  private readonly metrics: IndustrialMetrics;
  private readonly devices: DeviceState[];
  private readonly commands: CommandQueue;
  /** One poll of one group (group-poll.ts). */
  private readonly groups: GroupPoll;
  private intake: Intake | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private stopSignal = new AbortController();
  private state: 'stopped' | 'connecting' | 'running' | 'retrying' | 'paused' = 'stopped';
  private connectAttempts = 0;
  private everConnected = false;
  /** Monotonic ms of the last (re)connect: polls due before it fell in the outage (poll()). */
  private connectedAt = 0;
  /** Gaps run from the last answer before a loss to the first answer after it (outage.ts says why). */
  private readonly outages: Outages;
  /**
   * Faults that repeat every poll (an exception response, a refused commit) are logged at most once
   * a minute per request or group, with the count (the status and the counters say the rest).
   */
  private readonly warnLog: RateLog;
  private lastError: string | undefined;
  /** Wall time (epoch ms) of lastError, for the status page. */
  private lastErrorAt: number | undefined;
  private reconnects = 0;

  constructor(
    private readonly opts: ModbusOptions,
    private readonly link: ModbusLink,
    private readonly deps: SourceDeps,
  ) {
    this.name = opts.name;
    ({ now: this.now, monotonic: this.mono } = clocksOf(deps));
    this.metrics = industrialMetrics(deps.registry);
    this.warnLog = rateLimitedLog(deps.logger, 'warn', 60_000, this.mono);
    this.devices = buildDevices(opts, this.mono);
    this.outages = new Outages(this.mono, (gapMs) => {
      this.metrics.gaps.inc({ kind: KIND, source: this.name });
      this.metrics.gapSeconds.inc({ kind: KIND, source: this.name }, gapMs / 1000);
      this.warnLog('restored', { endpoint: this.link.describe(), gapMs }, 'modbus connection restored');
    });
    this.commands = new CommandQueue(
      opts,
      this.devices,
      deps,
      this.metrics,
      () => this.link.isOpen,
      () => this.wake?.(),
    );
    this.groups = new GroupPoll({
      name: this.name,
      opts,
      link,
      devices: this.devices,
      metrics: this.metrics,
      logger: deps.logger,
      warnLog: this.warnLog,
      outages: this.outages,
      now: this.now,
      mono: this.mono,
      intake: () => this.intake,
      stopping: () => this.stopping,
      stopSignal: () => this.stopSignal.signal,
      connectedAt: () => this.connectedAt,
      answered: () => this.answered(),
      dropLink: (reason) => this.dropLink(reason),
    });
  }

  async start(intake: Intake): Promise<void> {
    if (this.loop) return;
    this.intake = intake;
    this.stopping = false;
    this.stopSignal = new AbortController();
    this.state = 'connecting';
    this.commands.start();
    this.loop = this.run().catch((err: unknown) => {
      // A bug, not a device fault: log it loudly; the source shows 'failed'.
      this.deps.logger.error({ err }, 'modbus source loop failed');
      this.setError(errorMessage(err));
      this.state = 'stopped';
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.commands.stop();
    this.wake?.();
    await this.loop;
    this.loop = null;
    await this.link.close();
    this.metrics.connected.set({ kind: KIND, source: this.name }, 0);
    this.state = 'stopped';
  }

  status(): SourceStatus {
    return {
      kind: KIND,
      name: this.name,
      state: this.state,
      details: {
        endpoint: this.link.describe(),
        // Connected to the device: the link is open and the device answered on it (since the last loss).
        connected: this.link.isOpen && this.outages.answering,
        lastError: this.lastError ?? null,
        lastErrorAt: this.lastErrorAt === undefined ? null : new Date(this.lastErrorAt).toISOString(),
        reconnects: this.reconnects,
        gaps: this.outages.gaps,
        writes: this.commands.counts(),
        devices: this.devices.map(deviceStatus),
      },
    };
  }

  /** Wait up to ms, woken early by stop() or a queued write. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.link.isOpen) {
        await this.connect();
        continue;
      }
      const write = this.commands.next();
      if (write) {
        await this.runWrite(write);
        continue;
      }
      const g = nextDueGroup(this.devices);
      const wait = g ? Math.max(g.nextDue, g.device.retryAt) - this.mono() : 1000;
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      if (g) await this.poll(g);
    }
  }

  private async connect(): Promise<void> {
    this.state = this.everConnected || this.connectAttempts > 0 ? 'retrying' : 'connecting';
    try {
      await this.link.open((reason) => this.onLost(reason));
    } catch (err) {
      this.setError(errorMessage(err));
      this.metrics.readErrors.inc({ kind: KIND, source: this.name, device: '*', error: 'connection' });
      if (this.connectAttempts === 0 || this.connectAttempts % 10 === 0)
        this.deps.logger.warn(
          { endpoint: this.link.describe(), err: this.lastError, attempt: this.connectAttempts + 1 },
          'modbus connect failed, retrying with backoff',
        );
      this.outages.lost();
      this.state = 'retrying';
      await this.sleep(backoffMs(this.connectAttempts++, this.opts.backoff.initialMs, this.opts.backoff.maxMs));
      return;
    }
    if (this.everConnected) {
      this.reconnects++;
      this.metrics.reconnects.inc({ kind: KIND, source: this.name });
    }
    this.everConnected = true;
    this.connectedAt = this.mono();
    this.connectAttempts = 0;
    // Connected is not restored, nor reached at the start, by the connect: a socket a frozen PLC
    // accepts is no connection to it yet. The first answer makes it (answered()); until then the
    // state stays connecting (never answered) or retrying.
    // Devices that failed because the link was down get a fresh chance at once; one that timed out
    // on a working link keeps its backoff (else a dead unit would be polled again at every reconnect).
    for (const d of this.devices) if (d.failedBy === 'connection') d.retryAt = 0;
  }

  private onLost(reason: string): void {
    this.setError(`connection lost: ${reason}`);
    this.commands.refuseQueued(reason);
    this.outages.lost();
    this.metrics.connected.set({ kind: KIND, source: this.name }, 0);
    if (!this.stopping) {
      this.state = 'retrying';
      // Once a minute at most, with the count: a device closing the connection after each answer
      // (or a second master taking the PLC's one connection) logged a lost and a restored line per poll.
      this.warnLog('lost', { endpoint: this.link.describe(), reason }, 'modbus connection lost, reconnecting');
    }
    this.wake?.();
  }

  private async dropLink(reason: string): Promise<void> {
    this.onLost(reason);
    await this.link.close();
  }

  /** The device answered (values or an exception response): the link works, an open outage ends. */
  private answered(): void {
    if (!this.outages.answering) this.metrics.connected.set({ kind: KIND, source: this.name }, 1);
    this.outages.answered();
    if ((this.state === 'retrying' || this.state === 'connecting') && this.link.isOpen) this.state = 'running';
  }

  private setError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = this.now();
  }

  /** A due group: polled (group-poll.ts), or skipped while the store cannot take writes. */
  private async poll(g: GroupState): Promise<void> {
    if (this.intake && !this.intake.accepting()) {
      // The store cannot take writes: skip this poll (counted) rather than queue values without bound.
      this.state = 'paused';
      this.metrics.dropped.inc({ kind: KIND, source: this.name, reason: 'paused' });
      const missed = advanceSchedule(g, this.mono());
      if (missed > 0) this.metrics.overruns.inc({ kind: KIND, source: this.name, group: `${g.device.device.name}/${g.group.name}` }, missed);
      return;
    }
    if (this.state === 'paused') this.state = this.outages.answering ? 'running' : 'retrying';
    await this.groups.poll(g);
  }

  private async runWrite(w: PendingWrite): Promise<void> {
    try {
      const response = await this.link.write(w.unitId, w.area, w.address, w.data);
      this.answered();
      this.commands.reply(w, { ok: true, response });
    } catch (err) {
      const e = err instanceof ModbusRequestError ? err : new ModbusRequestError('protocol', errorMessage(err));
      if (e.kind === 'exception') this.answered();
      this.commands.reply(w, { ok: false, error: e.message, errorKind: e.kind, exceptionCode: e.exceptionCode });
      // As for reads: a dead unit behind a TCP gateway is not a half-open connection (outage.ts).
      if (e.kind === 'timeout' && this.link.describe().startsWith('tcp') && this.outages.presumeHalfOpen(this.devices.length))
        await this.dropLink('write timed out');
    }
  }
}
