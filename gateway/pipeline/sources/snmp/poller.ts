// The polls of an snmp source: one schedule per (poll, target) pair; each run reads the target
// (reads.ts), makes one message and awaits its commit before it counts as read (as a Modbus poll).
// A run still going when the next is due (a target that does not answer holds a run for
// timeoutMs x (retries+1) per request) makes that next one skipped and counted, never queued.
// A target that stops answering is one outage (modbus/outage.ts): one warning when it starts,
// one line when it ends with its length, whatever the number of polls in between.
import { performance } from 'node:perf_hooks';
import type { Message } from '../../../../core/message.js';
import { errorMessage, type GatehouseError } from '../../../../core/errors.js';
import { abortable } from '../../../../core/abortable.js';
import { clocksOf } from '../../../../core/clock.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { Intake } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { industrialMetrics, type IndustrialMetrics } from '../industrial-metrics.js';
import { Outages } from '../modbus/outage.js';
import { topicRenderer } from '../topic-template.js';
import type { NetSnmp, SnmpSession } from './lib.js';
import type { SnmpMetrics } from './metrics.js';
import type { SnmpPoll, SnmpSourceOptions, SnmpTarget } from './options.js';
import { ReadFailure, readPoll } from './reads.js';
import { openSession, requestError, type SnmpErrorKind } from './sessions.js';

const KIND = 'snmp';

interface TargetState {
  target: SnmpTarget;
  /** Opened by open() (its secrets read then), closed by stop(). */
  session: SnmpSession | undefined;
  outages: Outages;
  /** The warning of the open outage was logged. */
  down: boolean;
  /** Its last poll was answered with an error (noAccess, authorizationError, genErr): failing, though no outage. */
  refused: boolean;
  lastGoodRead: number | undefined;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  errors: Record<SnmpErrorKind | 'commit', number>;
  polls: number;
  missing: number;
  truncated: number;
}

interface Job {
  poll: SnmpPoll;
  t: TargetState;
  running: boolean;
  nextDue: number;
  timer: NodeJS.Timeout | undefined;
  skipped: number;
  lastPollMs: number | undefined;
}

export class SnmpPoller {
  private readonly targets: TargetState[];
  private readonly jobs: Job[] = [];
  private readonly runs = new Set<Promise<void>>();
  private readonly industrial: IndustrialMetrics;
  private readonly clocks: ReturnType<typeof clocksOf>;
  private readonly warnLog: RateLog;
  private readonly render: (vars: Readonly<Record<string, string>>) => string;
  private intake: Intake | undefined;
  private stopSignal = new AbortController();
  private stopping = false;

  constructor(
    private readonly lib: NetSnmp,
    private readonly opts: SnmpSourceOptions,
    private readonly deps: SourceDeps,
    private readonly metrics: SnmpMetrics,
  ) {
    this.industrial = industrialMetrics(deps.registry);
    this.clocks = clocksOf(deps);
    this.warnLog = rateLimitedLog(deps.logger, 'warn', 60_000, this.clocks.monotonic);
    this.render = topicRenderer(opts.topic);
    this.targets = opts.targets.map((target) => {
      const t: TargetState = {
        target,
        session: undefined,
        outages: new Outages(this.clocks.monotonic, (gapMs) => {
          this.industrial.gaps.inc({ kind: KIND, source: opts.name });
          this.industrial.gapSeconds.inc({ kind: KIND, source: opts.name }, gapMs / 1000);
          deps.logger.info({ target: target.name, gapMs }, 'snmp target answering again');
        }),
        down: false,
        refused: false,
        lastGoodRead: undefined,
        lastError: undefined,
        lastErrorAt: undefined,
        errors: { timeout: 0, auth: 0, protocol: 0, commit: 0 },
        polls: 0,
        missing: 0,
        truncated: 0,
      };
      return t;
    });
    for (const poll of opts.polls)
      for (const t of this.targets)
        if (!poll.targets || poll.targets.includes(t.target.name))
          this.jobs.push({ poll, t, running: false, nextDue: 0, timer: undefined, skipped: 0, lastPollMs: undefined });
  }

  /** Open the targets' sessions, reading their secrets: a missing passphrase file fails the start (GH_CONFIG_INVALID). */
  open(): void {
    try {
      for (const [i, t] of this.targets.entries()) {
        const session = openSession(this.lib, t.target, `sources.${this.opts.name}.targets.${i}`);
        // a socket error of the session's own (not a request's) must not crash the gateway
        session.on('error', (err) => this.warnLog(`session\0${t.target.name}`, { target: t.target.name, err: errorMessage(err) }, 'snmp session error'));
        t.session = session;
      }
    } catch (err) {
      this.closeSessions();
      throw err;
    }
  }

  private closeSessions(): void {
    for (const t of this.targets) {
      t.session?.close();
      t.session = undefined;
    }
  }

  start(intake: Intake): void {
    this.intake = intake;
    this.stopping = false;
    this.stopSignal = new AbortController();
    const now = this.clocks.monotonic();
    for (const j of this.jobs) {
      j.nextDue = now;
      this.fire(j);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    for (const j of this.jobs) clearTimeout(j.timer);
    // closing a session fails its requests at once (net-snmp cancels them): no run waits out its timeouts
    this.closeSessions();
    await Promise.allSettled([...this.runs]);
    this.intake = undefined;
  }

  /** Every target answers (the source's `connected`). */
  get answering(): boolean {
    return this.targets.every((t) => t.outages.answering);
  }

  status(): Record<string, unknown>[] {
    return this.targets.map((t) => ({
      name: t.target.name,
      host: `${t.target.host}:${t.target.port}`,
      version: t.target.version,
      state: t.down || t.refused ? 'failing' : t.lastGoodRead === undefined ? 'waiting' : 'ok',
      lastGoodRead: t.lastGoodRead === undefined ? null : new Date(t.lastGoodRead).toISOString(),
      lastError: t.lastError ?? null,
      lastErrorAt: t.lastErrorAt === undefined ? null : new Date(t.lastErrorAt).toISOString(),
      polls: t.polls,
      readErrors: { ...t.errors },
      missingValues: t.missing,
      truncatedTables: t.truncated,
      gaps: t.outages.gaps,
      schedules: this.jobs
        .filter((j) => j.t === t)
        .map((j) => ({ poll: j.poll.name, intervalMs: j.poll.intervalMs, skipped: j.skipped, pollLatencyMs: j.lastPollMs ?? null })),
    }));
  }

  /** A job is due: run it (or skip it, counted, while its last run goes on), then schedule the next. */
  private fire(j: Job): void {
    if (this.stopping) return;
    if (j.running) {
      j.skipped++;
      this.industrial.dropped.inc({ kind: KIND, source: this.opts.name, reason: 'overrun' });
    } else if (this.intake && !this.intake.accepting()) {
      // the store cannot take writes: not read at all, rather than read and held without bound
      j.skipped++;
      this.industrial.dropped.inc({ kind: KIND, source: this.opts.name, reason: 'paused' });
    } else {
      j.running = true;
      const run: Promise<void> = this.run(j).finally(() => {
        j.running = false;
        this.runs.delete(run);
      });
      this.runs.add(run);
    }
    // the next due time on the monotonic clock, past ones skipped (they were counted as they came)
    const now = this.clocks.monotonic();
    j.nextDue += j.poll.intervalMs;
    if (j.nextDue <= now) j.nextDue += Math.ceil((now - j.nextDue + 1) / j.poll.intervalMs) * j.poll.intervalMs;
    j.timer = setTimeout(() => this.fire(j), j.nextDue - now);
  }

  private async run(j: Job): Promise<void> {
    const { t, poll } = j;
    const name = this.opts.name;
    const t0 = performance.now();
    let read: Awaited<ReturnType<typeof readPoll>>;
    try {
      if (!t.session) return;
      read = await readPoll(t.session, poll);
    } catch (err) {
      if (this.stopping) return;
      const { kind, error } = requestError(this.lib, t.target, err instanceof ReadFailure ? err.raw : err);
      this.failed(t, kind, error);
      return;
    }
    if (this.stopping) return;
    this.answered(t);
    t.refused = false;
    if (read.missing.length > 0) {
      t.missing += read.missing.length;
      this.metrics.missing.inc({ source: name, target: t.target.name }, read.missing.length);
    }
    if (read.truncated.length > 0) {
      t.truncated += read.truncated.length;
      this.metrics.truncated.inc({ source: name, target: t.target.name }, read.truncated.length);
      this.warnLog(
        `truncated\0${t.target.name}\0${poll.name}`,
        { target: t.target.name, poll: poll.name, tables: read.truncated },
        'snmp table cut at maxRows (the message says truncated)',
      );
    }
    const ts = this.clocks.now();
    const body: Record<string, unknown> = { target: t.target.name, host: t.target.host, poll: poll.name, ts };
    if (poll.fields) body.fields = read.fields;
    if (poll.tables.length > 0) body.rows = read.rows;
    if (read.missing.length > 0) body.missing = read.missing;
    if (read.truncated.length > 0) body.truncated = read.truncated;
    const message: Message = {
      topic: this.render({ source: name, target: t.target.name, host: t.target.host, poll: poll.name }),
      payload: Buffer.from(JSON.stringify(body)),
      qos: 1,
      source: { kind: KIND, id: `${name}/${t.target.name}` },
      receivedAt: ts,
    };
    try {
      const p = this.intake?.submit(message);
      if (p) await abortable(p, this.stopSignal.signal);
    } catch (err) {
      if (this.stopping) return;
      t.errors.commit++;
      this.setError(t, `poll '${poll.name}' not committed: ${errorMessage(err)}`);
      this.industrial.readErrors.inc({ kind: KIND, source: name, device: t.target.name, error: 'commit' });
      this.warnLog(
        `commit\0${t.target.name}\0${poll.name}`,
        { target: t.target.name, poll: poll.name, err: errorMessage(err) },
        'snmp poll not committed; read again next poll',
      );
      return;
    }
    t.polls++;
    t.lastGoodRead = ts;
    j.lastPollMs = Math.round((performance.now() - t0) * 100) / 100;
    this.industrial.values.inc({ kind: KIND, source: name, device: t.target.name }, read.values);
    this.industrial.lastGoodRead.set({ kind: KIND, source: name, device: t.target.name }, ts / 1000);
    this.industrial.pollSeconds.observe({ kind: KIND, source: name, group: `${t.target.name}/${poll.name}` }, j.lastPollMs / 1000);
  }

  private setError(t: TargetState, message: string): void {
    t.lastError = message;
    t.lastErrorAt = this.clocks.now();
  }

  private failed(t: TargetState, kind: SnmpErrorKind, error: GatehouseError): void {
    t.errors[kind]++;
    this.setError(t, error.message);
    this.industrial.readErrors.inc({ kind: KIND, source: this.opts.name, device: t.target.name, error: kind });
    if (kind === 'protocol') {
      // the agent answers: no outage, but a poll that fails each time is said once a minute
      this.answered(t);
      t.refused = true;
      this.warnLog(`protocol\0${t.target.name}`, { target: t.target.name, err: error.message }, 'snmp request refused');
      return;
    }
    t.outages.lost();
    this.connected();
    if (t.down) return;
    t.down = true;
    // once per outage, with the hint (a wrong community looks like a dead agent)
    this.deps.logger.warn(
      { target: t.target.name, code: error.code, err: error.message, hint: error.hint },
      'snmp target not answering (said once until it answers again)',
    );
  }

  private answered(t: TargetState): void {
    // a target down since the start (never answered) has no outage to close: its end is said here
    if (t.down && !t.outages.open) this.deps.logger.info({ target: t.target.name }, 'snmp target answering again');
    t.outages.answered();
    t.down = false;
    this.connected();
  }

  private connected(): void {
    this.industrial.connected.set({ kind: KIND, source: this.opts.name }, this.answering ? 1 : 0);
  }
}
